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
use standing_accountability::keys::{Key, RoleKind};

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "malformed_body",
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_query",
            rejection.body_text(),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_path",
            rejection.body_text(),
        )
    }
}

/// A body read whole: too large, or not what it should be.
macro_rules! body_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> ApiError {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "malformed_body"
                };
                ApiError::new(status, code, rejection.body_text())
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
    ApiError: From<T::Rejection>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Deferred(
            T::from_request_parts(parts, state)
                .await
                .map_err(ApiError::from),
        ))
    }
}

impl<S, T> FromRequest<S> for DeferredBody<T>
where
    S: Send + Sync,
    T: FromRequest<S>,
    ApiError: From<T::Rejection>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(DeferredBody(Deferred(
            T::from_request(request, state)
                .await
                .map_err(ApiError::from),
        )))
    }
}

/// Who may call an endpoint, and what its calls are named in the audit log: declared with
/// [`endpoint!`] beside the handler.
pub(crate) trait Endpoint: Send + Sync + 'static {
    /// The action audited: `score`, `consent.change`, …
    const ACTION: &'static str;
    /// The roles whose keys may call it.
    const ROLES: &'static [RoleKind];
    /// The path parameter naming the stored record the request is about, when it names no
    /// subject (a decision held for review, a dispute): see [`Endpoint::about`].
    const RECORD: Option<&'static str> = None;
    /// The subject and purpose of the stored record `id`, which the audit names (nothing when
    /// there is no such record: the handler refuses it, audited).
    fn about(_state: &AppState, _id: &str) -> About {
        About::default()
    }
}

/// What a request is about, for the audit log.
#[derive(Debug, Default)]
pub(crate) struct About {
    pub(crate) subject: Option<String>,
    pub(crate) purpose: Option<String>,
}

/// Declares an endpoint's marker type: `endpoint!(Score, "score", Consumer, Operator);`. One
/// whose path names a stored record rather than a subject also says which path parameter names
/// it and what finds its subject and purpose for the audit:
/// `endpoint!(Review, "review", Operator; "decision_id" => about);`.
macro_rules! endpoint {
    ($name:ident, $action:literal, $($role:ident),+ $(; $record:literal => $about:path)?) => {
        #[derive(Debug)]
        pub(crate) struct $name;
        impl $crate::extract::Endpoint for $name {
            const ACTION: &'static str = $action;
            const ROLES: &'static [standing_accountability::keys::RoleKind] =
                &[$(standing_accountability::keys::RoleKind::$role),+];
            $(
                const RECORD: Option<&'static str> = Some($record);
                fn about(state: &$crate::AppState, id: &str) -> $crate::extract::About {
                    $about(state, id)
                }
            )?
        }
    };
}
pub(crate) use endpoint;

/// The caller of endpoint `E`, checked before the handler runs: its key is known, usable and
/// of one of `E`'s roles, and a subject key acts for the subject its path names only. Every
/// refusal is audited. It carries the request's audit context ([`Caller::asked`]).
#[derive(Debug)]
pub(crate) struct Caller<E> {
    pub(crate) key: std::sync::Arc<Key>,
    /// The subject the path names (`/v1/subjects/{subject}/…`), or that of the record it names.
    subject: Option<String>,
    /// The purpose of the record the path names.
    purpose: Option<String>,
    endpoint: std::marker::PhantomData<E>,
}

impl<E: Endpoint> Caller<E> {
    /// What was asked, for the audit log: the endpoint's action about the path's subject.
    pub(crate) fn asked(&self) -> Asked<'_> {
        Asked {
            action: E::ACTION,
            subject: self.subject.as_deref(),
            purpose: self.purpose.as_deref(),
        }
    }
}

impl<E: Endpoint> FromRequestParts<std::sync::Arc<AppState>> for Caller<E> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<AppState>,
    ) -> Result<Self, ApiError> {
        // A path that does not decode was refused before (see `keyed_first`).
        let params = axum::extract::RawPathParams::from_request_parts(parts, state).await;
        let param = |wanted: &str| {
            let params = params.as_ref().ok()?;
            let mut named = params.iter().filter(|(name, _)| *name == wanted);
            named.next().map(|(_, value)| value.to_owned())
        };
        let subject = param("subject");
        let about = match E::RECORD.and_then(param) {
            Some(id) => E::about(state, &id),
            None => About::default(),
        };
        let asked = Asked {
            action: E::ACTION,
            subject: subject.as_deref().or(about.subject.as_deref()),
            purpose: about.purpose.as_deref(),
        };
        let key = crate::authenticate(state, &parts.headers, E::ROLES, &asked)?;
        if let Some(subject) = &subject {
            crate::own_subject(state, &key, &asked, subject)?;
        }
        Ok(Caller {
            key,
            subject: subject.or(about.subject),
            purpose: about.purpose,
            endpoint: std::marker::PhantomData,
        })
    }
}
