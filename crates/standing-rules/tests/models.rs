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

use standing_core::{EventTypeId, FieldValue, Verdict};
use standing_rules::protected::resembles_protected;
use standing_rules::{FieldRange, Model, Severity, check_model};

fn sample(file: &str, text: &str) -> Model {
    check_model(file, text).model.unwrap()
}

/// Each source and what it may send, as `name: type type …`.
fn source_table(model: &Model) -> Vec<String> {
    model
        .sources
        .iter()
        .map(|source| {
            let mut types: Vec<&str> = source
                .types
                .iter()
                .map(|id| model.event_type(*id).name.as_str())
                .collect();
            types.sort_unstable();
            format!("{}: {}", source.name, types.join(" "))
        })
        .collect()
}

/// The sample models' sources: whom the demo's country, the generators, the sample events and
/// the tests send as, each with the types it sends.
#[test]
fn the_sample_models_declare_their_sources() {
    let city = sample("city.toml", standing_rules::SAMPLE_CITY_MODEL);
    assert_eq!(
        source_table(&city),
        [
            "bank: bank.account_tenure payment.late",
            "banks: bank.account_tenure credit.enquiry relation.added relation.removed",
            "civic: civic.traffic_ticket civic.volunteering",
            "civic-records: civic.traffic_ticket civic.volunteering",
            "court: court.defaulter_delisted court.defaulter_listed court.judgment",
            "courts: court.defaulter_delisted court.defaulter_listed court.judgment",
            "credit: credit.enquiry",
            "debt: debt.default_registered debt.default_settled",
            "debtor-register: debt.default_registered debt.default_settled",
            "employers: relation.added relation.removed",
            "lenders: credit.enquiry",
            "marketplace: market.rating",
            "payment: payment.late payment.on_time",
            "payments: payment.late payment.on_time",
            "payplatform: payment.late payment.on_time",
            "police: civic.traffic_ticket",
            "social: relation.added relation.removed",
            "social-app: relation.added relation.removed",
            "utilities: utility.damage",
            "utility: utility.damage",
        ]
    );
    let marketplace = sample("marketplace.toml", standing_rules::SAMPLE_MARKETPLACE_MODEL);
    assert_eq!(
        source_table(&marketplace),
        ["otc: rating.given rating.received"]
    );
    let credit = sample(
        "consumer-credit.toml",
        standing_rules::SAMPLE_CONSUMER_CREDIT_MODEL,
    );
    assert_eq!(source_table(&credit), ["uci-german: credit.application"]);
    for model in [&city, &marketplace, &credit] {
        assert!(model.declares_sources());
        // Sorted by name, so `source` finds each by binary search; ids sorted within each.
        for source in &model.sources {
            assert_eq!(
                model.source(&source.name).map(|s| &s.name),
                Some(&source.name)
            );
            assert!(source.types.windows(2).all(|pair| pair[0] < pair[1]));
        }
        assert!(model.source("nobody").is_none());
    }
    let id = |name: &str| city.event_type_id(name).unwrap();
    let courts = city.source("courts").unwrap();
    assert!(courts.may_send(id("court.judgment")));
    assert!(!courts.may_send(id("payment.late")));
    assert!(!courts.may_send(EventTypeId(u16::MAX)));
    assert!(
        city.source("social")
            .unwrap()
            .may_send(city.network.added.unwrap())
    );
}

/// Every record of `models/city-sample-events.ndjson` comes from a declared source that may
/// send its type (retractions always may).
#[test]
fn the_city_sample_events_are_all_allowed() {
    let city = sample("city.toml", standing_rules::SAMPLE_CITY_MODEL);
    let events = include_str!("../../../models/city-sample-events.ndjson");
    let value = |line: &str, key: &str| -> String {
        let start = line.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
        line[start..].split('"').next().unwrap().to_owned()
    };
    let mut checked = 0;
    for line in events.lines().filter(|l| !l.trim().is_empty()) {
        let (source, event_type) = (value(line, "source"), value(line, "type"));
        if event_type == "retraction" {
            assert!(city.source(&source).is_some(), "{line}");
            continue;
        }
        let id = city.event_type_id(&event_type).unwrap();
        assert!(
            city.source(&source).is_some_and(|s| s.may_send(id)),
            "{source} may not send {event_type}"
        );
        checked += 1;
    }
    assert!(checked >= 20);
}

/// A small valid model with `extra` appended, and `fields` as the type's field table.
fn tiny(fields: &str, points: &str, extra: &str) -> String {
    format!(
        r#"[model]
name = "tiny"
version = "1"

[scale]
base = 0
min = -100
max = 100
grades = [{{ name = "A", min = -100 }}]

[[dimensions]]
name = "d"
lower = -100
upper = 100

[event_types."e.x"]
category = "financial"
fields = {fields}

[[rules]]
code = "R"
on = "e.x"
points = "{points}"
dimension = "d"
reason = "r"
{extra}"#
    )
}

#[test]
fn without_sources_intake_is_unrestricted_with_one_warning_at_the_model_header() {
    let checked = check_model("tiny.toml", &tiny("{ n = \"string\" }", "1", ""));
    let model = checked.model.unwrap();
    assert!(!model.declares_sources());
    assert!(model.sources.is_empty());
    let shown: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "tiny.toml:1:1: warning: the model declares no sources: any source may send any event type"
        ]
    );
}

#[test]
fn intake_skew_defaults_to_an_hour_and_reads_the_duration_syntax() {
    let sources = "[sources.s]\ntypes = [\"e.x\"]\n";
    let default = sample("t.toml", &tiny("{ n = \"string\" }", "1", sources));
    assert_eq!(default.intake.future_skew.0, 3600);
    for (skew, seconds) in [
        ("10m", Some(600)),
        ("90s", Some(90)),
        ("0s", None),
        ("-5m", None),
        ("1 hour", None),
    ] {
        let text = tiny(
            "{ n = \"string\" }",
            "1",
            &format!("{sources}\n[intake]\nfuture_skew = \"{skew}\"\n"),
        );
        let checked = check_model("t.toml", &text);
        match seconds {
            Some(seconds) => {
                assert_eq!(
                    checked.model.unwrap().intake.future_skew.0,
                    seconds,
                    "{skew}"
                );
            }
            None => {
                let line = 1 + text
                    .lines()
                    .position(|l| l.starts_with("future_skew"))
                    .unwrap();
                assert!(checked.model.is_none(), "{skew}");
                assert!(
                    checked
                        .diagnostics
                        .iter()
                        .any(|d| d.severity == Severity::Error && d.line == line && d.column == 15),
                    "{skew}: {:?}",
                    checked.diagnostics
                );
            }
        }
    }
}

#[test]
fn field_ranges_are_compiled_and_hold_their_values() {
    let city = sample("city.toml", standing_rules::SAMPLE_CITY_MODEL);
    let late = city.event_type(city.event_type_id("payment.late").unwrap());
    let range = |name: &str| late.fields[late.field_slot(name).unwrap()].range;
    assert_eq!(
        range("days_late"),
        Some(FieldRange::Integer {
            min: 0,
            max: 36_500
        })
    );
    assert_eq!(
        range("amount"),
        Some(FieldRange::Decimal {
            min: 0.0,
            max: 1e12
        })
    );
    assert_eq!(range("creditor"), None);
    // Every number field of every sample model but one declares a range: the one read by no
    // rule's points (see the summary of consumer-credit.toml's fields).
    for (file, text) in [
        ("city.toml", standing_rules::SAMPLE_CITY_MODEL),
        ("marketplace.toml", standing_rules::SAMPLE_MARKETPLACE_MODEL),
        (
            "consumer-credit.toml",
            standing_rules::SAMPLE_CONSUMER_CREDIT_MODEL,
        ),
    ] {
        let model = sample(file, text);
        for event_type in model
            .event_types
            .iter()
            .filter(|t| !t.name.starts_with("relation."))
        {
            for field in &event_type.fields {
                let number = matches!(
                    field.ty,
                    standing_core::FieldType::Integer | standing_core::FieldType::Decimal
                );
                let exempt = field.name == "installment_rate";
                assert_eq!(
                    field.range.is_some(),
                    number && !exempt,
                    "{file}: {}",
                    field.name
                );
            }
        }
    }

    let open = sample(
        "t.toml",
        &tiny(
            "{ n = { type = \"integer\", min = -3 }, x = { type = \"decimal\", max = 2.5 } }",
            "n",
            "[sources.s]\ntypes = [\"e.x\"]\n",
        ),
    );
    let fields = &open.event_types[0].fields;
    let (n, x) = (fields[0].range.unwrap(), fields[1].range.unwrap());
    assert_eq!(
        n,
        FieldRange::Integer {
            min: -3,
            max: i64::MAX
        }
    );
    assert_eq!(
        x,
        FieldRange::Decimal {
            min: f64::NEG_INFINITY,
            max: 2.5
        }
    );
    for (range, value, inside) in [
        (n, FieldValue::Int(-3), true),
        (n, FieldValue::Int(-4), false),
        (n, FieldValue::Int(i64::MAX), true),
        (n, FieldValue::Dec(0.0), false),
        (x, FieldValue::Dec(2.5), true),
        (x, FieldValue::Dec(2.5000001), false),
        (x, FieldValue::Dec(f64::NEG_INFINITY), true),
        (x, FieldValue::Dec(f64::NAN), false),
        (x, FieldValue::Int(2), true),
        (x, FieldValue::Int(3), false),
        (x, FieldValue::Str("1".into()), false),
    ] {
        assert_eq!(range.contains(&value), inside, "{range:?} {value:?}");
    }
}

#[test]
fn a_number_field_read_by_points_without_a_range_is_warned_of_at_the_field() {
    let sources = "[sources.s]\ntypes = [\"e.x\"]\n";
    let text = tiny(
        "{ n = \"integer\", m = \"integer\", k = { type = \"integer\", max = 9 } }",
        "n + k",
        sources,
    );
    let checked = check_model("t.toml", &text);
    assert!(checked.model.is_some());
    let shown: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "t.toml:18:12: warning: field `n` declares no range: a value near the limits overflows rule `R`, which then awards nothing; declare `min` and `max` and intake refuses such values"
        ]
    );
}

#[test]
fn a_purpose_may_decide_for_unknown_subjects() {
    let city = sample("city.toml", standing_rules::SAMPLE_CITY_MODEL);
    assert_eq!(
        city.purpose("rail.highspeed.booking").unwrap().unknown,
        Some(Verdict::Allow)
    );
    assert_eq!(city.purpose("lending.consumer").unwrap().unknown, None);
    let with = |unknown: &str| {
        tiny(
            "{ n = \"string\" }",
            "1",
            &format!(
                "[sources.s]\ntypes = [\"e.x\"]\n\n[[purposes]]\nname = \"p\"\nreads = [\"score\"]\nunknown = \"{unknown}\"\n"
            ),
        )
    };
    assert_eq!(
        sample("t.toml", &with("deny")).purposes[0].unknown,
        Some(Verdict::Deny)
    );
    assert_eq!(
        sample("t.toml", &with("allow")).purposes[0].unknown,
        Some(Verdict::Allow)
    );
    assert!(check_model("t.toml", &with("Allow")).model.is_none());
    // A purpose that reviews adverse decisions cannot deny a person with no record unreviewed.
    let reviewed = with("deny").replace(
        "unknown = \"deny\"",
        "review = \"adverse\"\nunknown = \"deny\"",
    );
    let checked = check_model("t.toml", &reviewed);
    assert!(checked.model.is_none());
    assert!(
        checked.diagnostics.iter().any(|d| d
            .message
            .contains("cannot deny a person with no record unreviewed")),
        "{:?}",
        checked.diagnostics
    );
    let allowed = with("allow").replace(
        "unknown = \"allow\"",
        "review = \"adverse\"\nunknown = \"allow\"",
    );
    assert!(check_model("t.toml", &allowed).model.is_some());
}

/// Runs `check_model` on a thread with a 256 KiB stack: if any bound were missing, a hostile
/// model would overflow it and abort the test binary.
fn check_on_small_stack(text: String) -> standing_rules::Checked {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || check_model("hostile.toml", &text))
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn hostile_expressions_and_models_are_refused_before_any_parser_recurses() {
    let sources = "[sources.s]\ntypes = [\"e.x\"]\n";
    let fields = "{ a = { type = \"integer\", min = 0, max = 9 }, x = \"boolean\" }";
    let chain = |term: &str, op: &str| vec![term; 5000].join(op);
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    // Points chains and nests, and a `when` chain.
    let mut cases: Vec<(String, &str)> = vec![
        (tiny(fields, &chain("a", " + "), sources), "bytes long"),
        (tiny(fields, &chain("a", "+"), sources), "bytes long"),
        (tiny(fields, &deep, sources), "bytes long"),
        (
            tiny(fields, "1", sources).replace(
                "points = \"1\"",
                &format!("when = \"{}\"\npoints = \"1\"", chain("x", " && ")),
            ),
            "bytes long",
        ),
        // Within the length bound, the depth and term bounds hold.
        (
            tiny(
                fields,
                &format!("{}a{}", "(".repeat(33), ")".repeat(33)),
                sources,
            ),
            "nest deeper than 32",
        ),
        (
            tiny(fields, &chain("a", "+")[..4000], sources),
            "more than 128 operators",
        ),
        (
            tiny(fields, &vec!["a"; 300].join("+"), sources),
            "more than 128 operators",
        ),
        (
            tiny(fields, &vec!["int(a)"; 200].join("+"), sources),
            "more than 128 operators",
        ),
    ];
    // String literals are skipped, not counted.
    let quoted = format!("a + size('{}')", "+(".repeat(1000));
    assert!(standing_rules::expr::check_limits(&quoted).is_ok());
    for (text, message) in cases.drain(..) {
        let points_line = 1 + text
            .lines()
            .position(|l| l.starts_with("when =") || l.starts_with("points ="))
            .unwrap();
        let checked = check_on_small_stack(text);
        assert!(checked.model.is_none());
        let errors: Vec<String> = checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!("hostile.toml:{points_line}:")),
            "{errors:?}"
        );
        assert!(errors[0].contains(message), "{errors:?}");
    }
    // The bounds themselves are accepted, and checked within 1 MiB of stack even unoptimised.
    let at_the_bounds = [
        format!("{}a{}", "(".repeat(32), ")".repeat(32)),
        vec!["a"; 129].join("+"),
        vec!["x"; 129].join(" || "),
    ];
    for expression in at_the_bounds {
        let text = if expression.contains('x') {
            tiny(fields, "1", sources).replace(
                "points = \"1\"",
                &format!("when = \"{expression}\"\npoints = \"1\""),
            )
        } else {
            tiny(fields, &expression, sources)
        };
        let checked = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || check_model("bounds.toml", &text))
            .unwrap()
            .join()
            .unwrap();
        assert!(checked.model.is_some(), "{:?}", checked.diagnostics);
    }

    let mut huge = tiny(fields, "a", sources);
    huge.push_str(&format!(
        "# {}\n",
        "x".repeat(2 * standing_rules::MAX_MODEL_BYTES)
    ));
    let checked = check_on_small_stack(huge);
    assert!(checked.model.is_none());
    let shown: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].starts_with("hostile.toml:1:1: error: the model is 2097"),
        "{shown:?}"
    );
}

/// Ordinary field and enum names — the sample models' and common ones — that resemble no
/// protected term.
const ORDINARY_NAMES: &[&str] = &[
    "region",
    "regional",
    "regions",
    "amount",
    "days_late",
    "creditor",
    "rating",
    "ratee",
    "rater",
    "purpose",
    "kind",
    "other",
    "weight",
    "duration",
    "duration_months",
    "employment",
    "housing",
    "residence",
    "telephone",
    "savings",
    "history",
    "checking",
    "installment_rate",
    "case_id",
    "court",
    "utility",
    "cost",
    "hours",
    "organisation",
    "offence",
    "fine",
    "years",
    "lender",
    "stars",
    "counterparty",
    "credit",
    "conditions",
    "card",
    "loan",
    "friend",
    "family",
    "colleague",
    "guarantor",
    "breach_of_contract",
    "unpaid_debt",
    "damages",
    "speeding",
    "parking",
    "red_light",
    "water",
    "power",
    "gas",
    "telecom",
    "transport",
    "payer",
    "payee",
    "player",
    "position",
    "partition",
    "protect",
    "policies",
    "policy",
    "generic",
    "community",
    "patent",
    "temp",
    "trans",
    "transaction",
    "transfer",
    "demo",
    "comm",
    "commission",
    "comment",
    "dependency",
    "relief",
    "tribute",
    "tender",
    "sender",
    "render",
    "wealth",
    "note",
    "notes",
    "day",
    "date",
    "rate",
    "rates",
    "race_day",
    "face_value",
    "case",
    "cases",
    "cast",
    "union",
    "credit_union",
    "third_party",
    "balance",
    "account",
    "accounts",
    "branch",
    "bank",
    "currency",
    "country",
    "city",
    "street",
    "address",
    "email",
    "phone",
    "mobile",
    "income",
    "salary",
    "wage",
    "wages",
    "debt",
    "debts",
    "default",
    "defaults",
    "status",
    "state",
    "score",
    "grade",
    "level",
    "tier",
    "category",
    "type",
    "channel",
    "device",
    "merchant",
    "store",
    "shop",
    "order",
    "orders",
    "refund",
    "refunds",
    "dispute",
    "disputes",
    "claim",
    "claims",
    "premium",
    "policy_id",
    "vehicle",
    "mileage",
    "speed",
    "distance",
    "location",
    "latitude",
    "longitude",
    "period",
    "month",
    "months",
    "week",
    "weeks",
    "year",
    "quarter",
    "hour",
    "minute",
    "count",
    "total",
    "average",
    "limit",
    "limits",
    "ceiling",
    "floor",
    "minimum",
    "maximum",
    "ratio",
    "share",
    "percent",
    "interest",
    "principal",
    "collateral",
    "mortgage",
    "rent",
    "rental",
    "tenant",
    "landlord",
    "lease",
    "contract",
    "contracts",
    "penalty",
    "penalties",
    "fee",
    "fees",
    "charge",
    "charges",
    "invoice",
    "invoices",
    "receipt",
    "payment",
    "payments",
    "paid",
    "late",
    "overdue",
    "arrears",
    "settled",
    "settlement",
    "enquiry",
    "inquiry",
    "application",
    "applicant",
    "approved",
    "declined",
    "reason",
    "reasons",
    "description",
    "comment_text",
    "review",
    "reviews",
    "feedback",
    "complaint",
    "complaints",
    "ticket",
    "tickets",
    "violation",
    "offense",
    "judgment",
    "verdict",
    "appeal",
    "registration",
    "register",
    "registry",
    "tenure",
    "volunteering",
    "organisation_name",
    "project",
    "team",
    "role",
    "title",
    "rank",
    "ranking",
    "position_id",
    "station",
    "route",
    "trip",
    "booking",
    "seat",
    "fare",
    "passenger",
    "product",
    "price",
    "quantity",
    "discount",
    "delivery",
    "shipping",
    "returns",
    "warranty",
    "service",
    "provider",
    "supplier",
    "vendor",
    "partner",
    "customer",
    "client",
    "member_id",
    "membership_tier",
    "subscription",
    "plan",
    "usage",
    "meter",
    "reading",
    "consumption",
    "energy",
    "electricity",
    "heating",
    "damage",
    "repair",
    "cleanup",
    "street_cleaning",
    "prior",
    "protector",
    "demand",
    "deposit",
    "withdrawal",
    "transfer_kind",
    "regime",
];

#[test]
fn ordinary_names_resemble_no_protected_term() {
    let mut names: Vec<String> = ORDINARY_NAMES.iter().map(|n| (*n).to_owned()).collect();
    // And every field and enum name of the sample models.
    for (file, text) in [
        ("city.toml", standing_rules::SAMPLE_CITY_MODEL),
        ("marketplace.toml", standing_rules::SAMPLE_MARKETPLACE_MODEL),
        (
            "consumer-credit.toml",
            standing_rules::SAMPLE_CONSUMER_CREDIT_MODEL,
        ),
    ] {
        let checked = check_model(file, text);
        assert!(
            !checked
                .diagnostics
                .iter()
                .any(|d| d.message.contains("resembles")),
            "{file}: {:?}",
            checked.diagnostics
        );
        for event_type in &checked.model.unwrap().event_types {
            for field in &event_type.fields {
                names.push(field.name.clone());
                if let standing_core::FieldType::Enum(values) = &field.ty {
                    names.extend(values.iter().map(|v| v.to_string()));
                }
            }
        }
    }
    assert!(names.len() > 300);
    let flagged: Vec<String> = names
        .iter()
        .filter_map(|name| resembles_protected(name).map(|r| format!("{name} ~ {}", r.term)))
        .collect();
    assert!(flagged.is_empty(), "{flagged:#?}");
}

/// Abbreviated and misspelt protected terms, each with the term and category it is taken for.
const NEAR_MISSES: &[(&str, &str, &str)] = &[
    ("relig", "religion", "religious or philosophical beliefs"),
    ("religon", "religion", "religious or philosophical beliefs"),
    ("relgion", "religion", "religious or philosophical beliefs"),
    (
        "religous",
        "religious",
        "religious or philosophical beliefs",
    ),
    ("ethnicty", "ethnicity", "racial or ethnic origin"),
    ("ethn", "ethnic", "racial or ethnic origin"),
    ("nationalty", "nationality", "racial or ethnic origin"),
    ("union_memb", "union member", "trade-union membership"),
    ("trade_unon", "trade union", "trade-union membership"),
    ("unionzd", "unionized", "trade-union membership"),
    ("orient", "orientation", "sex life or sexual orientation"),
    ("sexuel", "sexual", "sex life or sexual orientation"),
    ("polit", "political", "political opinions"),
    ("politcal", "political", "political opinions"),
    ("helth", "health", "health"),
    ("medic_history", "medical", "health"),
    ("diagnos", "diagnosis", "health"),
    ("disab", "disability", "health"),
    ("pregnan", "pregnancy", "health"),
    ("biometr", "biometric", "biometric data"),
    ("fingerprnt", "fingerprint", "biometric data"),
    ("gendr", "gender", "sex or gender"),
    ("child_count", "children", "family size"),
    ("dependnts", "dependents", "family size"),
    (
        "applicantRelig",
        "religion",
        "religious or philosophical beliefs",
    ),
];

#[test]
fn near_misses_of_protected_terms_are_found() {
    for (name, term, category) in NEAR_MISSES {
        assert_eq!(
            standing_rules::protected::protected_name(name),
            None,
            "{name}"
        );
        let resemblance = resembles_protected(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            (resemblance.term.as_str(), resemblance.protected.category),
            (*term, *category),
            "{name}"
        );
    }
    // A name that stands for a category outright is that finding, not a near miss.
    for name in ["sexual_orient", "religion", "trade_union"] {
        assert!(
            standing_rules::protected::protected_name(name).is_some(),
            "{name}"
        );
        assert_eq!(resembles_protected(name), None, "{name}");
    }
    // Through `check`: a warning at the field, naming term and category; the model is valid.
    let text = tiny(
        "{ relig = \"string\", kind = [\"a\", \"ethnicty\"] }",
        "1",
        "[sources.s]\ntypes = [\"e.x\"]\n",
    );
    let checked = check_model("t.toml", &text);
    assert!(checked.model.is_some());
    let shown: Vec<String> = checked
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "t.toml:18:12: warning: field `relig` resembles `religion` (religious or philosophical beliefs): if it is, the model may not read it",
            "t.toml:18:30: warning: field `kind` (its value `ethnicty`) resembles `ethnicity` (racial or ethnic origin): if it is, the model may not read it",
        ]
    );
}
