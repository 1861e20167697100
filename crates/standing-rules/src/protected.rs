//! Protected categories of personal data, which no Standing model may score.
//!
//! GDPR Art. 9 lists the special categories; the issue list adds family size, and
//! anti-discrimination law adds sex. A model is refused when it declares such a data category,
//! or when a rule, list or policy reads a field whose name or enum values clearly stand for one.
//! Matching is by whole words of a name (`days_late` is `days` + `late`), so `credit_union` or
//! `third_party` are not mistaken for union membership or political parties.
//!
//! [`resembles_protected`] looks for near misses — an abbreviated or misspelt term (`relig`,
//! `ethnicty`, `union_memb`) — which the checker reports as warnings: it sees names, never what
//! the data means.

/// A protected category, named the way a diagnostic explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protected {
    pub category: &'static str,
    pub basis: &'static str,
}

const ETHNIC: Protected = Protected {
    category: "racial or ethnic origin",
    basis: "GDPR Art. 9(1)",
};
const POLITICAL: Protected = Protected {
    category: "political opinions",
    basis: "GDPR Art. 9(1)",
};
const RELIGION: Protected = Protected {
    category: "religious or philosophical beliefs",
    basis: "GDPR Art. 9(1)",
};
const UNION: Protected = Protected {
    category: "trade-union membership",
    basis: "GDPR Art. 9(1)",
};
const GENETIC: Protected = Protected {
    category: "genetic data",
    basis: "GDPR Art. 9(1)",
};
const BIOMETRIC: Protected = Protected {
    category: "biometric data",
    basis: "GDPR Art. 9(1)",
};
const HEALTH: Protected = Protected {
    category: "health",
    basis: "GDPR Art. 9(1)",
};
const SEX_LIFE: Protected = Protected {
    category: "sex life or sexual orientation",
    basis: "GDPR Art. 9(1)",
};
const FAMILY: Protected = Protected {
    category: "family size",
    basis: "Standing's charter",
};
const SEX: Protected = Protected {
    category: "sex or gender",
    basis: "EU Charter Art. 21 and anti-discrimination law",
};

/// Single words that stand for a protected category wherever they appear in a name.
const WORDS: &[(&str, Protected)] = &[
    ("race", ETHNIC),
    ("racial", ETHNIC),
    ("ethnic", ETHNIC),
    ("ethnicity", ETHNIC),
    ("ancestry", ETHNIC),
    ("nationality", ETHNIC),
    ("citizenship", ETHNIC),
    ("caste", ETHNIC),
    ("tribe", ETHNIC),
    ("tribal", ETHNIC),
    ("political", POLITICAL),
    ("politics", POLITICAL),
    ("ideology", POLITICAL),
    ("vote", POLITICAL),
    ("voted", POLITICAL),
    ("voting", POLITICAL),
    ("protest", POLITICAL),
    ("petition", POLITICAL),
    ("dissent", POLITICAL),
    ("dissident", POLITICAL),
    ("religion", RELIGION),
    ("religious", RELIGION),
    ("faith", RELIGION),
    ("belief", RELIGION),
    ("beliefs", RELIGION),
    ("church", RELIGION),
    ("mosque", RELIGION),
    ("synagogue", RELIGION),
    ("temple", RELIGION),
    ("worship", RELIGION),
    ("prayer", RELIGION),
    ("philosophical", RELIGION),
    ("unionized", UNION),
    ("unionised", UNION),
    ("genetic", GENETIC),
    ("genetics", GENETIC),
    ("genome", GENETIC),
    ("dna", GENETIC),
    ("genotype", GENETIC),
    ("biometric", BIOMETRIC),
    ("biometrics", BIOMETRIC),
    ("fingerprint", BIOMETRIC),
    ("faceprint", BIOMETRIC),
    ("facial", BIOMETRIC),
    ("iris", BIOMETRIC),
    ("retina", BIOMETRIC),
    ("voiceprint", BIOMETRIC),
    ("health", HEALTH),
    ("medical", HEALTH),
    ("diagnosis", HEALTH),
    ("disease", HEALTH),
    ("illness", HEALTH),
    ("disability", HEALTH),
    ("disabled", HEALTH),
    ("pregnancy", HEALTH),
    ("pregnant", HEALTH),
    ("psychiatric", HEALTH),
    ("medication", HEALTH),
    ("prescription", HEALTH),
    ("hospital", HEALTH),
    ("patient", HEALTH),
    ("hiv", HEALTH),
    ("sexual", SEX_LIFE),
    ("sexuality", SEX_LIFE),
    ("orientation", SEX_LIFE),
    ("homosexual", SEX_LIFE),
    ("heterosexual", SEX_LIFE),
    ("bisexual", SEX_LIFE),
    ("gay", SEX_LIFE),
    ("lesbian", SEX_LIFE),
    ("lgbt", SEX_LIFE),
    ("lgbtq", SEX_LIFE),
    ("children", FAMILY),
    ("kids", FAMILY),
    ("dependents", FAMILY),
    ("dependants", FAMILY),
    ("sex", SEX),
    ("gender", SEX),
    // Values that name a belief, an origin or an orientation.
    ("christian", RELIGION),
    ("muslim", RELIGION),
    ("islamic", RELIGION),
    ("jewish", RELIGION),
    ("hindu", RELIGION),
    ("buddhist", RELIGION),
    ("catholic", RELIGION),
    ("protestant", RELIGION),
    ("atheist", RELIGION),
    ("sikh", RELIGION),
    ("hispanic", ETHNIC),
    ("latino", ETHNIC),
    ("caucasian", ETHNIC),
    ("uyghur", ETHNIC),
    ("roma", ETHNIC),
    ("communist", POLITICAL),
    ("democrat", POLITICAL),
    ("republican", POLITICAL),
    ("transgender", SEX_LIFE),
];

/// Pairs of adjacent words that stand for a protected category together.
const PAIRS: &[(&str, &str, Protected)] = &[
    ("trade", "union", UNION),
    ("labour", "union", UNION),
    ("labor", "union", UNION),
    ("union", "member", UNION),
    ("union", "membership", UNION),
    ("skin", "colour", ETHNIC),
    ("skin", "color", ETHNIC),
    ("national", "origin", ETHNIC),
    ("party", "member", POLITICAL),
    ("party", "membership", POLITICAL),
    ("political", "party", POLITICAL),
    ("face", "scan", BIOMETRIC),
    ("mental", "health", HEALTH),
    ("sex", "life", SEX_LIFE),
    ("family", "size", FAMILY),
    ("household", "size", FAMILY),
    ("number", "children", FAMILY),
    ("num", "children", FAMILY),
    ("gender", "identity", SEX_LIFE),
    ("marital", "status", SEX),
    ("foreign", "worker", ETHNIC),
    ("foreign", "national", ETHNIC),
];

/// The words of a name: split at non-alphanumerics and lower-to-upper case changes, lowercased.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for character in name.chars() {
        if !character.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if character.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = character.is_lowercase();
        current.extend(character.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The protected category a name clearly stands for, if any.
pub fn protected_name(name: &str) -> Option<Protected> {
    let words = words(name);
    for pair in words.windows(2) {
        if let Some((_, _, protected)) = PAIRS
            .iter()
            .find(|(a, b, _)| pair[0] == *a && pair[1] == *b)
        {
            return Some(*protected);
        }
    }
    words.iter().find_map(|word| {
        WORDS
            .iter()
            .find(|(candidate, _)| word == candidate)
            .map(|(_, protected)| *protected)
    })
}

/// The protected category a data category's name stands for, if any.
pub fn protected_category(name: &str) -> Option<Protected> {
    protected_name(name).or_else(|| match name {
        "ethnic_origin" | "political_opinion" | "union_membership" | "sex_life" | "genetics"
        | "biometrics" | "beliefs" => protected_name(&name.replace('_', " ")),
        _ => None,
    })
}

/// A name that looks like an abbreviated or misspelt protected term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resemblance {
    /// The protected term it resembles (`religion`, or a pair as `union member`).
    pub term: String,
    pub protected: Protected,
}

/// Ordinary words that are near a protected term (`region` is two edits from `religion`, `rate`
/// one from `race`) and are not taken for it.
const ORDINARY: &[&str] = &[
    "case",
    "cases",
    "cast",
    "comm",
    "community",
    "demo",
    "demos",
    "dependence",
    "dependency",
    "face",
    "faces",
    "generic",
    "generics",
    "partition",
    "patent",
    "patents",
    "payer",
    "payers",
    "player",
    "players",
    "policies",
    "position",
    "positions",
    "protect",
    "protects",
    "rate",
    "rates",
    "region",
    "regions",
    "temp",
    "trans",
    "union",
    "unions",
];

/// The smallest number of single-character insertions, deletions and substitutions that turn
/// `a` into `b`.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Whether `word` looks like `term` without being it: a prefix of at least 4 characters, or
/// within 1 edit (2 for terms of 8 characters or more), with the same first letter.
fn near(word: &str, term: &str) -> bool {
    if word == term || word.chars().count() < 4 || !word.chars().all(char::is_alphabetic) {
        return false;
    }
    if ORDINARY.contains(&word) || word.chars().next() != term.chars().next() {
        return false;
    }
    if term.starts_with(word) {
        return true;
    }
    let (word, term): (Vec<char>, Vec<char>) = (word.chars().collect(), term.chars().collect());
    let allowed = if term.len() >= 8 { 2 } else { 1 };
    word.len().abs_diff(term.len()) <= allowed && edit_distance(&word, &term) <= allowed
}

/// The protected term a name resembles without standing for it (see [`protected_name`]): one
/// of its words near a listed word, or two adjacent words whose first is a pair's first word
/// and whose second is near the pair's second (`union_memb`). `None` for a name that stands
/// for a protected category outright: that is [`protected_name`]'s finding.
pub fn resembles_protected(name: &str) -> Option<Resemblance> {
    if protected_name(name).is_some() {
        return None;
    }
    let words = words(name);
    for pair in words.windows(2) {
        if let Some((a, b, protected)) = PAIRS
            .iter()
            .find(|(a, b, _)| pair[0] == *a && near(&pair[1], b))
        {
            return Some(Resemblance {
                term: format!("{a} {b}"),
                protected: *protected,
            });
        }
    }
    words.iter().find_map(|word| {
        WORDS
            .iter()
            .find(|(term, _)| near(word, term))
            .map(|(term, protected)| Resemblance {
                term: (*term).to_owned(),
                protected: *protected,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_stand_for_a_protected_category_are_found() {
        for (name, category) in [
            ("ethnicity", "racial or ethnic origin"),
            ("religiousAffiliation", "religious or philosophical beliefs"),
            ("trade_union_member", "trade-union membership"),
            ("health_condition", "health"),
            ("personal_status_sex", "sex or gender"),
            ("num_children", "family size"),
            ("sexual_orientation", "sex life or sexual orientation"),
            ("voted_in_election", "political opinions"),
            ("foreign_worker", "racial or ethnic origin"),
        ] {
            assert_eq!(
                protected_name(name).map(|p| p.category),
                Some(category),
                "{name}"
            );
        }
    }

    #[test]
    fn ordinary_names_are_not_mistaken_for_protected_ones() {
        for name in [
            "days_late",
            "credit_union",
            "third_party",
            "amount",
            "case_id",
            "hours",
            "kind",
            "other",
            "family_ties",
            "registration",
        ] {
            assert_eq!(protected_name(name), None, "{name}");
        }
    }
}
