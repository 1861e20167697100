//! Consent per subject and purpose: not enrolled (the start), opted in or opted out, kept in
//! `consent/consent.jsonl` (every change, synced before it is in force), and what it decides
//! with the purpose's legal basis: a purpose required by law always answers, a consent-based
//! one only for subjects who opted in, one on legitimate interest unless the subject opted out.

use crate::ledger::{LedgerError, LedgerMap};
use serde::{Deserialize, Serialize};
use standing_core::Timestamp;
use standing_rules::{Basis, Model, Purpose};

/// A subject's choice for a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    OptedIn,
    OptedOut,
}

/// Where a subject's consent for a purpose stands, with the purpose's basis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// The purpose is required by law: consent is not asked.
    RequiredByLaw,
    OptedIn,
    OptedOut,
    /// The subject made no choice.
    NotEnrolled,
}

impl ConsentState {
    pub fn of(basis: &Basis, choice: Option<Choice>) -> ConsentState {
        match (basis, choice) {
            (Basis::Law(_), _) => ConsentState::RequiredByLaw,
            (_, Some(Choice::OptedIn)) => ConsentState::OptedIn,
            (_, Some(Choice::OptedOut)) => ConsentState::OptedOut,
            (_, None) => ConsentState::NotEnrolled,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConsentState::RequiredByLaw => "required_by_law",
            ConsentState::OptedIn => "opted_in",
            ConsentState::OptedOut => "opted_out",
            ConsentState::NotEnrolled => "not_enrolled",
        }
    }
}

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub subject: String,
    pub purpose: String,
    pub choice: Choice,
    #[serde(with = "crate::instant")]
    pub at: Timestamp,
    /// The key that recorded it.
    pub by: String,
}

/// Why a consent was not recorded, or a purpose may not use a subject's data.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("`subject` is not an id: it {0}")]
    BadSubject(String),
    #[error("model {model} has no purpose `{purpose}`")]
    UnknownPurpose { purpose: String, model: String },
    #[error("purpose `{purpose}` is required by law ({reference}); consent is not asked")]
    RequiredByLaw { purpose: String, reference: String },
    /// The purpose may not use the subject's data: not opted in, or opted out.
    #[error("subject `{subject}` {} purpose `{purpose}`", if *.opt_in { "has not opted in to" } else { "has opted out of" })]
    NotGiven {
        subject: String,
        purpose: String,
        /// Whether the purpose needs an opt-in (else the subject opted out).
        opt_in: bool,
    },
    #[error("the consent was not recorded: {0}")]
    NotDurable(#[from] LedgerError),
}

/// The consents of a data directory.
#[derive(Debug)]
pub struct Consents {
    current: LedgerMap<(String, String), ConsentRecord>,
}

/// One purpose's consent for a subject, as the API and the access report show it.
#[derive(Clone, Debug, Serialize)]
pub struct PurposeConsent<'m> {
    pub purpose: &'m str,
    pub description: &'m str,
    pub basis: &'static str,
    /// The law that requires it, for a purpose required by law.
    pub legal_basis: Option<&'m str>,
    pub state: ConsentState,
    /// When the subject made the choice in force.
    #[serde(with = "crate::instant::option")]
    pub since: Option<Timestamp>,
    /// Whether the purpose may use the subject's data now.
    pub permitted: bool,
    /// The parts of a subject's data the purpose reads.
    pub reads: &'m [String],
}

impl Consents {
    pub fn open(directory: &std::path::Path) -> Result<Consents, LedgerError> {
        let current = LedgerMap::open(
            &directory.join("consent/consent.jsonl"),
            |r: &ConsentRecord| (r.subject.clone(), r.purpose.clone()),
        )?;
        Ok(Consents { current })
    }

    /// The subject's choice for a purpose, if any, and when it was made.
    pub fn choice(&self, subject: &str, purpose: &str) -> Option<(Choice, Timestamp)> {
        self.current
            .get(&(subject.to_owned(), purpose.to_owned()))
            .map(|record| (record.choice, record.at))
    }

    /// Whether `purpose` may use `subject`'s data now.
    pub fn permits(&self, subject: &str, purpose: &Purpose) -> bool {
        let choice = || {
            self.choice(subject, &purpose.name)
                .map(|(choice, _)| choice)
        };
        match purpose.basis {
            Basis::Law(_) => true,
            Basis::Consent => choice() == Some(Choice::OptedIn),
            Basis::LegitimateInterest => choice() != Some(Choice::OptedOut),
        }
    }

    /// `Ok` when `purpose` may use `subject`'s data now, else why not.
    pub fn check(&self, subject: &str, purpose: &Purpose) -> Result<(), ConsentError> {
        if self.permits(subject, purpose) {
            return Ok(());
        }
        Err(ConsentError::NotGiven {
            subject: subject.to_owned(),
            purpose: purpose.name.clone(),
            opt_in: purpose.basis == Basis::Consent,
        })
    }

    /// The subject's consent for every purpose of `model`.
    pub fn overview<'m>(&self, model: &'m Model, subject: &str) -> Vec<PurposeConsent<'m>> {
        model
            .purposes
            .iter()
            .map(|purpose| {
                let choice = self.choice(subject, &purpose.name);
                PurposeConsent {
                    purpose: &purpose.name,
                    description: &purpose.description,
                    basis: purpose.basis.name(),
                    legal_basis: match &purpose.basis {
                        Basis::Law(reference) => Some(reference),
                        _ => None,
                    },
                    state: ConsentState::of(&purpose.basis, choice.map(|c| c.0)),
                    since: choice.map(|c| c.1),
                    permitted: self.permits(subject, purpose),
                    reads: &purpose.reads,
                }
            })
            .collect()
    }

    /// Records `subject`'s `choice` for `purpose` of `model`, made by key `by` at `at`: durable
    /// first, then in force (the next request sees it). A purpose required by law cannot be
    /// opted out of, nor in to.
    pub fn change(
        &self,
        model: &Model,
        subject: &str,
        purpose: &str,
        choice: Choice,
        by: &str,
        at: Timestamp,
    ) -> Result<ConsentRecord, ConsentError> {
        standing_core::id::check_id(subject)
            .map_err(|problem| ConsentError::BadSubject(problem.to_string()))?;
        let Some(declared) = model.purpose(purpose) else {
            return Err(ConsentError::UnknownPurpose {
                purpose: purpose.to_owned(),
                model: model.version_label().to_string(),
            });
        };
        if let Basis::Law(reference) = &declared.basis {
            return Err(ConsentError::RequiredByLaw {
                purpose: purpose.to_owned(),
                reference: reference.clone(),
            });
        }
        let record = ConsentRecord {
            subject: subject.to_owned(),
            purpose: purpose.to_owned(),
            choice,
            at,
            by: by.to_owned(),
        };
        let key = (record.subject.clone(), record.purpose.clone());
        self.current.write(key, |_| Ok(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each basis decides for each choice, and that a choice survives a reopen.
    #[test]
    fn each_basis_decides_with_the_choice_in_force() {
        let checked = standing_rules::check_model("city.toml", standing_rules::SAMPLE_CITY_MODEL);
        let model = checked.model.unwrap();
        let directory = standing_devkit::TempDir::new("consent");
        let consents = Consents::open(&directory).unwrap();
        let purpose = |name| model.purpose(name).unwrap();
        let at = Timestamp(1_000);
        // Nothing chosen: consent needs an opt-in, legitimate interest holds, law always.
        let table = [
            ("dating.profile", false),
            ("lending.consumer", true),
            ("rail.highspeed.booking", true),
        ];
        for (name, permitted) in table {
            assert_eq!(consents.permits("p-1", purpose(name)), permitted, "{name}");
        }
        consents
            .change(
                &model,
                "p-1",
                "dating.profile",
                Choice::OptedIn,
                "key-1",
                at,
            )
            .unwrap();
        consents
            .change(
                &model,
                "p-1",
                "lending.consumer",
                Choice::OptedOut,
                "key-1",
                at,
            )
            .unwrap();
        let refused = consents.change(
            &model,
            "p-1",
            "rail.highspeed.booking",
            Choice::OptedOut,
            "key-1",
            at,
        );
        assert!(matches!(refused, Err(ConsentError::RequiredByLaw { .. })));
        let unknown = consents.change(&model, "p-1", "astrology", Choice::OptedIn, "key-1", at);
        assert!(matches!(unknown, Err(ConsentError::UnknownPurpose { .. })));
        let bad = consents.change(
            &model,
            "p 1",
            "dating.profile",
            Choice::OptedIn,
            "key-1",
            at,
        );
        assert!(matches!(bad, Err(ConsentError::BadSubject(_))));
        drop(consents);
        let consents = Consents::open(&directory).unwrap();
        assert!(consents.permits("p-1", purpose("dating.profile")));
        assert!(!consents.permits("p-1", purpose("lending.consumer")));
        assert!(consents.check("p-1", purpose("lending.consumer")).is_err());
        assert_eq!(
            consents.choice("p-1", "dating.profile"),
            Some((Choice::OptedIn, at))
        );
        let overview = consents.overview(&model, "p-1");
        let state = |name: &str| overview.iter().find(|c| c.purpose == name).unwrap().state;
        assert_eq!(state("dating.profile"), ConsentState::OptedIn);
        assert_eq!(state("lending.consumer"), ConsentState::OptedOut);
        assert_eq!(state("rail.highspeed.booking"), ConsentState::RequiredByLaw);
        let other = consents.overview(&model, "p-2");
        assert!(other.iter().all(|c| c.state != ConsentState::OptedIn));
    }
}
