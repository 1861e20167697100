//! A relation graph read from an edge list: one relation a line, `a b` or `a b weight`,
//! separated by spaces, tabs or commas (further columns are ignored, as a file's timestamps
//! are); `#` starts a comment. Subjects are numbers from 0. The format of SNAP's edge lists and
//! of the Bitcoin OTC ratings.

use standing_graph::{Direction, Graph, Weight};

/// Why an edge list could not be read: the line and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct EdgeError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// A graph read from an edge list.
#[derive(Clone, Debug)]
pub struct Edges {
    pub graph: Graph,
    pub relations: u64,
    /// Lines whose weight was zero or negative (a distrust rating): no relation.
    pub skipped: u64,
}

/// Reads `text` (named `file` in errors). `one_way`: `a` depends on `b` only; otherwise both on
/// each other.
pub fn read_edges(file: &str, text: &str, one_way: bool) -> Result<Edges, EdgeError> {
    let direction = if one_way {
        Direction::OneWay
    } else {
        Direction::Mutual
    };
    let mut relations = Vec::new();
    let (mut subjects, mut skipped) = (0u32, 0u64);
    for (index, line) in text.lines().enumerate() {
        let error = |reason: String| EdgeError {
            file: file.to_owned(),
            line: index + 1,
            reason,
        };
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let mut columns = content
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|column| !column.is_empty());
        let mut subject = |name: &str| -> Result<u32, EdgeError> {
            let column = columns
                .next()
                .ok_or_else(|| error(format!("no {name} subject")))?;
            let subject = column
                .parse::<u32>()
                .ok()
                .filter(|&s| s < u32::MAX)
                .ok_or_else(|| {
                    error(format!(
                        "the {name} subject `{column}` is not a number below 2³²−1"
                    ))
                })?;
            Ok(subject)
        };
        let (a, b) = (subject("first")?, subject("second")?);
        let weight = match columns.next() {
            None => 1.0,
            Some(column) => column
                .parse::<f64>()
                .ok()
                .filter(|w| w.is_finite())
                .ok_or_else(|| error(format!("the weight `{column}` is not a number")))?,
        };
        if weight <= 0.0 {
            skipped += 1;
            continue;
        }
        if a == b {
            return Err(error(format!("subject {a} related to itself")));
        }
        let weight = Weight::from_f64(weight).ok_or_else(|| {
            error(format!(
                "the weight {weight} is outside {} to {}",
                Weight::from_units(1).map_or(0.0, Weight::value),
                Weight::MAX.value()
            ))
        })?;
        subjects = subjects.max(a.max(b) + 1);
        relations.push((a, b, weight, direction));
    }
    Ok(Edges {
        graph: Graph::from_relations(subjects, &relations),
        relations: relations.len() as u64,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_or_are_refused_by_number() {
        let edges = read_edges(
            "g",
            "# a comment\n0 1\n1,2,3.5,1289241911\n\n2\t3 -2\n",
            false,
        )
        .unwrap();
        assert_eq!(
            (edges.graph.len(), edges.relations, edges.skipped),
            (3, 2, 1)
        );
        assert_eq!(edges.graph.entries(), 4);
        for (text, line, says) in [
            ("0 1\nx 2\n", 2, "`x` is not a number"),
            ("0\n", 1, "no second subject"),
            ("0 1 heavy\n", 1, "weight `heavy`"),
            ("4 4\n", 1, "itself"),
            ("0 1 99\n", 1, "outside"),
        ] {
            let error = read_edges("g", text, true).unwrap_err();
            assert_eq!(error.line, line, "{text:?}");
            assert!(
                error.to_string().starts_with(&format!("g:{line}: ")),
                "{error}"
            );
            assert!(error.reason.contains(says), "{text:?}: {error}");
        }
    }
}
