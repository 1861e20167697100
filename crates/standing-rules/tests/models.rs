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
