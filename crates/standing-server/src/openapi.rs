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

/// A body of records as text (NDJSON lines, or CSV rows under a header): any text is read,
/// and each record is answered for on its own (accepted, or rejected with its reason), so the
/// body as a whole has no shape to refuse.
pub(crate) struct Records;

impl utoipa::PartialSchema for Records {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("Records as text; an empty body is an empty batch"))
            .into()
    }
}

impl ToSchema for Records {}

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

/// Path parameters that are ids (of the id alphabet, 1 to 256 bytes).
const ID_PARAMETERS: [&str; 3] = ["subject", "source", "event_id"];

/// The schema of an id: `standing_core::id`'s alphabet.
fn id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9._:@~+=-]{1,256}$"))
        .max_length(Some(256))
        .into()
}

/// Adds to every operation the refusals every handler of its shape can give, so no answer the
/// server gives is undocumented: a malformed path or query (`400`), and for a JSON body a
/// missing or wrong content type (`415`), a body that is not JSON (`400`) and JSON of the wrong
/// shape (`422`) — the answers of the deferred extractors (`extract.rs`).
pub(crate) fn complete(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            // Ids in paths are of the id alphabet (`standing_core::id`).
            for parameter in operation.parameters.iter_mut().flatten() {
                if let RefOr::T(parameter) = parameter
                    && parameter.parameter_in == ParameterIn::Path
                    && ID_PARAMETERS.contains(&parameter.name.as_str())
                {
                    parameter.schema = Some(id_schema());
                }
            }
            let parameters = operation.parameters.iter().flatten();
            let has_parameters = parameters.clone().any(|parameter| match parameter {
                RefOr::T(parameter) => matches!(
                    parameter.parameter_in,
                    ParameterIn::Path | ParameterIn::Query
                ),
                RefOr::Ref(_) => true,
            });
            // Intake reads an empty body as an empty batch: its body may be left out.
            if operation.operation_id.as_deref() == Some("post_events")
                && let Some(RefOr::T(body)) = &mut operation.request_body
            {
                body.required = Some(utoipa::openapi::Required::False);
            }
            let json_body = match &operation.request_body {
                Some(RefOr::T(body)) => body.content.contains_key("application/json"),
                _ => false,
            };
            let responses = &mut operation.responses.responses;
            if has_parameters || json_body {
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("A malformed path, query or body"));
            }
            if json_body {
                responses
                    .entry("415".into())
                    .or_insert_with(|| error("The body is not sent as application/json"));
                responses
                    .entry("422".into())
                    .or_insert_with(|| error("The JSON body is not of the documented shape"));
            }
        }
    }
}

/// An instant as the API reads it: an RFC 3339 date-time (`2026-03-01T10:00:00Z`) or a date
/// (`2026-03-01`, its midnight UTC).
pub(crate) fn instant() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let string = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .item(string(KnownFormat::DateTime))
        .item(string(KnownFormat::Date))
        .build()
        .into()
}
