//! Snapshot tests of `check` diagnostics: every model in `tests/bad_models/` is refused, and
//! what it is told — every problem, each at its file:line:column — is kept in a snapshot.

use std::path::Path;

#[test]
fn every_bad_model_is_refused_with_located_diagnostics() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_models");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let checked = standing_rules::check_model(&format!("{name}.toml"), &text);
        assert!(checked.model.is_none(), "{name} should be refused");
        let shown: Vec<String> = checked
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        insta::assert_snapshot!(name, shown.join("\n"));
    }
}

/// `check --profile eu`: each model in `tests/eu_models/` breaks one condition and gets exactly
/// that finding (kept in a snapshot); `ok.toml` breaks none; the city model passes with its
/// accepted findings documented.
#[test]
fn the_eu_profile_finds_each_broken_condition_and_passes_the_sample_model() {
    use standing_rules::{Profile, Severity, check_model_profile};
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eu_models");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 7);
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let file = format!("{name}.toml");
        // Every one is a valid model: the profile is what refuses them.
        assert!(
            standing_rules::check_model(&file, &text).model.is_some(),
            "{name}"
        );
        let checked = check_model_profile(&file, &text, Profile::Eu);
        let shown: Vec<String> = checked
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        if name == "ok" {
            assert!(checked.model.is_some() && shown.is_empty(), "{shown:?}");
            continue;
        }
        assert!(checked.model.is_none(), "{name} should fail the profile");
        let code = format!("[EU-{}]", name.to_uppercase().replace('_', "-"));
        assert!(
            shown.iter().all(|d| d.contains(&code)),
            "{name}: only {code} expected: {shown:#?}"
        );
        insta::assert_snapshot!(format!("eu_{name}"), shown.join("\n"));
    }
    let city = check_model_profile("city.toml", standing_rules::SAMPLE_CITY_MODEL, Profile::Eu);
    assert!(city.model.is_some(), "{:#?}", city.diagnostics);
    assert!(
        city.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning && d.message.contains("accepted: "))
    );
    assert!(!city.diagnostics.is_empty());
}
