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

/// An event type's retention bounds how long its rules' points and its list entries count,
/// whatever the rule or list says.
#[test]
fn retention_bounds_rule_expiry_and_list_duration() {
    let model = standing_rules::check_model("city.toml", standing_rules::SAMPLE_CITY_MODEL)
        .model
        .unwrap();
    let rule = |code: &str| model.rules.iter().find(|r| r.code == code).unwrap();
    let year = 365 * 86_400;
    // PAY_ON_TIME declares no expiry; payment.on_time is kept 3 years.
    assert_eq!(
        rule("PAY_ON_TIME").decay.expires_after.map(|d| d.0),
        Some(3 * year)
    );
    // TRAFFIC_TICKET expires after 1 year, within its type's 1-year retention.
    assert_eq!(
        rule("TRAFFIC_TICKET").decay.expires_after.map(|d| d.0),
        Some(year)
    );
    // A rule counting longer than its type is kept is cut to the retention.
    let text = standing_rules::SAMPLE_CITY_MODEL.replacen(
        "expires_after = \"1y\"\nreason = \"Traffic ticket",
        "expires_after = \"9y\"\nreason = \"Traffic ticket",
        1,
    );
    assert_ne!(text, standing_rules::SAMPLE_CITY_MODEL);
    let cut = standing_rules::check_model("city.toml", &text)
        .model
        .unwrap();
    let ticket = cut
        .rules
        .iter()
        .find(|r| r.code == "TRAFFIC_TICKET")
        .unwrap();
    assert_eq!(ticket.decay.expires_after.map(|d| d.0), Some(year));
    let text = standing_rules::SAMPLE_CITY_MODEL.replacen(
        "[event_types.\"court.defaulter_listed\"]\ncategory = \"judicial\"",
        "[event_types.\"court.defaulter_listed\"]\ncategory = \"judicial\"\n# shorter than the list's 2 years",
        1,
    ).replace("retention = \"2y\"\n\n[event_types.\"court.defaulter_delisted\"]", "retention = \"1y\"\n\n[event_types.\"court.defaulter_delisted\"]");
    let short = standing_rules::check_model("city.toml", &text)
        .model
        .unwrap();
    assert_eq!(short.lists[0].max_duration.0, year);
}
