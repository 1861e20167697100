//! The OpenAPI document of the whole API, generated from the handlers' annotations and served
//! at `/openapi.json`; a test holds it to the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// A stable, machine-readable code (`unknown_key`, `beyond_purpose`, …).
    code: String,
    /// What went wrong and what to do, for people.
    message: String,
}

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `standing keys create`: `Authorization: Bearer <key>`",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Standing",
        description = "Accountable reputation scores: sources send events, consumers ask for decisions and scores bound to a purpose, operators run the model. Every read of a subject's data is audited.",
    ),
    paths(
        crate::healthz,
        crate::intake::post_events,
        crate::consumer::get_score,
        crate::consumer::get_explanation,
        crate::consumer::get_history,
        crate::consumer::get_contacts,
        crate::consumer::get_subject_audit,
        crate::consumer::get_list_membership,
        crate::consumer::post_decision,
        crate::consumer::post_rank,
        crate::review::get_decision,
        crate::review::get_reviews,
        crate::review::post_review,
        crate::consent::get_consent,
        crate::consent::put_consent,
        crate::access::get_report,
        crate::access::get_my_report,
        crate::access::get_counterfactuals,
        crate::disputes::post_dispute,
        crate::disputes::get_disputes,
        crate::disputes::post_resolution,
        crate::access::portal,
        crate::subscriptions::get_changes,
        crate::operator::get_overview,
        crate::operator::get_model,
        crate::operator::get_models,
        crate::operator::post_model,
        crate::operator::get_impact,
        crate::operator::post_activate,
        crate::operator::get_metrics,
        crate::operator::post_purge,
        crate::operator::get_keys,
        crate::operator::get_event,
        crate::operator::post_revoke_key,
        crate::openapi_json,
        crate::assets::index,
        crate::assets::asset,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerKeys),
    tags(
        (name = "sources", description = "Sending events"),
        (name = "consumers", description = "Decisions, scores, lists and changes, for a purpose"),
        (name = "operators", description = "Running the system"),
        (name = "subjects", description = "What a person may see and decide about their own data"),
    )
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}
