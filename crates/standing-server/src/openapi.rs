//! What the OpenAPI document says beyond its paths: its title, the error body, the bearer keys
//! and the tags. The paths come from the router itself (`routes` in the crate root), each
//! handler with its annotation, so the document cannot name a route the server lacks.

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
