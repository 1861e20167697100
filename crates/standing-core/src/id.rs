//! The alphabet of ids: subjects, events, sources and keys are named with letters, digits and a
//! few marks, so that no id carries a control character, a space, a bidirectional override or a
//! character that changes meaning in a URL path, a log line or a metrics label.

/// The longest id, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// The characters an id may hold besides ASCII letters and digits.
pub const ID_MARKS: &str = "-_.:@~+=";

/// Why a text is not an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdProblem {
    Empty,
    TooLong(usize),
    /// The first character outside the alphabet, and its byte offset.
    Character {
        character: char,
        offset: usize,
    },
}

impl std::fmt::Display for IdProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdProblem::Empty => f.write_str("is empty"),
            IdProblem::TooLong(length) => {
                write!(f, "is {length} bytes long; the limit is {MAX_ID_BYTES}")
            }
            IdProblem::Character { character, offset } => write!(
                f,
                "holds {} at byte {offset}; an id is ASCII letters, digits and `{ID_MARKS}`",
                describe(*character)
            ),
        }
    }
}

/// A character as a reader can see it: printable ones quoted, others by code point.
fn describe(character: char) -> String {
    if character.is_ascii_graphic() {
        format!("`{character}`")
    } else {
        format!("U+{:04X}", u32::from(character))
    }
}

/// Which bytes may appear in an id: checked on every record of intake, so one lookup a byte.
const ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let marks = ID_MARKS.as_bytes();
    let mut mark = 0;
    while mark < marks.len() {
        table[marks[mark] as usize] = true;
        mark += 1;
    }
    table
};

/// Whether `byte` may appear in an id.
pub fn is_id_byte(byte: u8) -> bool {
    ID_BYTES[usize::from(byte)]
}

/// Checks that `text` is an id: 1 to [`MAX_ID_BYTES`] bytes of ASCII letters, digits and
/// [`ID_MARKS`].
pub fn check_id(text: &str) -> Result<(), IdProblem> {
    if text.is_empty() {
        return Err(IdProblem::Empty);
    }
    if text.len() > MAX_ID_BYTES {
        return Err(IdProblem::TooLong(text.len()));
    }
    match text.bytes().position(|byte| !is_id_byte(byte)) {
        None => Ok(()),
        Some(offset) => Err(IdProblem::Character {
            character: text[offset..].chars().next().unwrap_or('\0'),
            offset,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_alphabet_pass_and_others_are_refused_with_the_character() {
        for good in [
            "p-42",
            "pay-000123",
            "D-7~restored",
            "a@b.example",
            "K-1:2+3=4_x",
        ] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        let cases: &[(&str, IdProblem)] = &[
            ("", IdProblem::Empty),
            (
                "p-1\0",
                IdProblem::Character {
                    character: '\0',
                    offset: 3,
                },
            ),
            (
                "p-1\n",
                IdProblem::Character {
                    character: '\n',
                    offset: 3,
                },
            ),
            (
                "\u{1b}[31m",
                IdProblem::Character {
                    character: '\u{1b}',
                    offset: 0,
                },
            ),
            (
                "p-\u{202e}1",
                IdProblem::Character {
                    character: '\u{202e}',
                    offset: 2,
                },
            ),
            (
                "p-1 ",
                IdProblem::Character {
                    character: ' ',
                    offset: 3,
                },
            ),
            (
                "p/1",
                IdProblem::Character {
                    character: '/',
                    offset: 1,
                },
            ),
            (
                "p\"1",
                IdProblem::Character {
                    character: '"',
                    offset: 1,
                },
            ),
        ];
        for (text, problem) in cases {
            assert_eq!(check_id(text).as_ref(), Err(problem), "{text:?}");
        }
        assert_eq!(check_id(&"x".repeat(MAX_ID_BYTES)), Ok(()));
        assert_eq!(
            check_id(&"x".repeat(MAX_ID_BYTES + 1)),
            Err(IdProblem::TooLong(MAX_ID_BYTES + 1))
        );
        assert_eq!(
            IdProblem::Character {
                character: '\u{202e}',
                offset: 2
            }
            .to_string(),
            "holds U+202E at byte 2; an id is ASCII letters, digits and `-_.:@~+=`"
        );
    }
}
