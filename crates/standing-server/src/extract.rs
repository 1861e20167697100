//! Extractors that never refuse a request before its key is checked. axum's `Json`, `Query`,
//! `Path` and body extractors answer a malformed request themselves, in plain text, before the
//! handler runs; wrapped in [`Deferred`] (path, query) or [`DeferredBody`] (the body), their
//! outcome waits until the handler has authenticated the key and checked what it may do, and a
//! malformed request is then answered in the documented JSON error body and audited like any
//! other refusal.

use crate::{ApiError, AppState, Asked, refuse};
use axum::extract::rejection::{
    BytesRejection, JsonRejection, PathRejection, QueryRejection, StringRejection,
};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use standing_accountability::keys::Key;

/// A rejection of one of axum's extractors, as an error answer.
pub(crate) trait Rejection {
    fn into_error(self) -> ApiError;
}

fn error(status: StatusCode, code: &'static str, text: String) -> ApiError {
    ApiError::new(status, code, text)
}

impl Rejection for JsonRejection {
    fn into_error(self) -> ApiError {
        let status = self.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "malformed_body",
        };
        error(status, code, self.body_text())
    }
}

impl Rejection for QueryRejection {
    fn into_error(self) -> ApiError {
        error(StatusCode::BAD_REQUEST, "malformed_query", self.body_text())
    }
}

impl Rejection for PathRejection {
    fn into_error(self) -> ApiError {
        error(StatusCode::BAD_REQUEST, "malformed_path", self.body_text())
    }
}

/// A body read whole: too large, or not what it should be.
macro_rules! body_rejection {
    ($($rejection:ty),*) => {$(
        impl Rejection for $rejection {
            fn into_error(self) -> ApiError {
                let status = self.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "malformed_body"
                };
                error(status, code, self.body_text())
            }
        }
    )*};
}

body_rejection!(BytesRejection, StringRejection);

/// A path or query extractor whose failure is answered only after authentication.
#[derive(Debug)]
pub(crate) struct Deferred<T>(Result<T, ApiError>);

/// A body extractor whose failure is answered only after authentication.
#[derive(Debug)]
pub(crate) struct DeferredBody<T>(Deferred<T>);

impl<T> Deferred<T> {
    /// The extracted value, or the malformed request refused and audited for `key`.
    pub(crate) fn open(
        self,
        state: &AppState,
        key: &Key,
        request: &Asked<'_>,
    ) -> Result<T, ApiError> {
        self.0
            .map_err(|error| refuse(state, Some(key), request, error))
    }
}

impl<T> DeferredBody<T> {
    /// See [`Deferred::open`].
    pub(crate) fn open(
        self,
        state: &AppState,
        key: &Key,
        request: &Asked<'_>,
    ) -> Result<T, ApiError> {
        self.0.open(state, key, request)
    }
}

impl<S, T> FromRequestParts<S> for Deferred<T>
where
    S: Send + Sync,
    T: FromRequestParts<S>,
    T::Rejection: Rejection,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Deferred(
            T::from_request_parts(parts, state)
                .await
                .map_err(Rejection::into_error),
        ))
    }
}

impl<S, T> FromRequest<S> for DeferredBody<T>
where
    S: Send + Sync,
    T: FromRequest<S>,
    T::Rejection: Rejection,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(DeferredBody(Deferred(
            T::from_request(request, state)
                .await
                .map_err(Rejection::into_error),
        )))
    }
}
