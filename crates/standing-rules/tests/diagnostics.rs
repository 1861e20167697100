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
