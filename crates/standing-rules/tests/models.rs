//! The shipped sample models check clean.

#[test]
fn sample_models_check_without_diagnostics() {
    for (file, text) in [
        ("models/city.toml", standing_rules::SAMPLE_CITY_MODEL),
        (
            "models/marketplace.toml",
            standing_rules::SAMPLE_MARKETPLACE_MODEL,
        ),
        (
            "models/consumer-credit.toml",
            standing_rules::SAMPLE_CONSUMER_CREDIT_MODEL,
        ),
    ] {
        let checked = standing_rules::check_model(file, text);
        let shown: Vec<String> = checked
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(shown.is_empty(), "{}", shown.join("\n"));
        assert!(checked.model.is_some());
    }
}

#[test]
fn an_enum_with_more_names_than_sixteen_bits_hold_is_refused() {
    let names: Vec<String> = (0..65_536).map(|i| format!("\"k{i}\"")).collect();
    let text = standing_rules::SAMPLE_CITY_MODEL.replace(
        r#"offence = ["speeding", "parking", "red_light", "other"]"#,
        &format!("offence = [{}]", names.join(", ")),
    );
    assert_ne!(
        text,
        standing_rules::SAMPLE_CITY_MODEL,
        "the sample changed"
    );
    let line = 1 + standing_rules::SAMPLE_CITY_MODEL
        .lines()
        .position(|l| l.contains("offence = ["))
        .unwrap();
    let checked = standing_rules::check_model("big.toml", &text);
    assert!(checked.model.is_none());
    let messages: Vec<String> = checked.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("big.toml:{line}:")) && m.contains("at most 65535 names")),
        "{messages:?}"
    );
}
