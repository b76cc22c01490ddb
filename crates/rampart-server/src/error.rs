//! The one place where errors become HTTP statuses. Internal details are logged, never
//! echoed to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A query that did not parse: the message and byte position.
    #[error("query error at position {position}: {message}")]
    Query {
        position: usize,
        message: String,
        rendered: String,
    },
    #[error("not found")]
    NotFound,
    /// Not found, saying what.
    #[error("{0}")]
    NotFoundWhat(String),
    /// The request cannot be done in the current state (the reason says why).
    #[error("{0}")]
    Conflict(String),
    #[error("overloaded, retry later")]
    Overloaded,
    /// A subsystem this request needs is not running.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rampart_store::StoreError> for ApiError {
    fn from(e: rampart_store::StoreError) -> Self {
        match e {
            rampart_store::StoreError::Overloaded { .. } => ApiError::Overloaded,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<rampart_detections::DetectionsError> for ApiError {
    fn from(e: rampart_detections::DetectionsError) -> Self {
        use rampart_detections::DetectionsError;
        match e {
            DetectionsError::UnknownRule(id) => {
                ApiError::NotFoundWhat(format!("unknown rule '{id}'"))
            }
            e @ DetectionsError::ReloadRefused(_) => ApiError::Conflict(e.to_string()),
            DetectionsError::Store(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Auth(AuthError::Missing) => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "authentication required"}),
            ),
            ApiError::Auth(AuthError::Invalid) => {
                (StatusCode::UNAUTHORIZED, json!({"error": "invalid token"}))
            }
            ApiError::Auth(e @ (AuthError::Forbidden { .. } | AuthError::TenantBound { .. })) => {
                (StatusCode::FORBIDDEN, json!({"error": e.to_string()}))
            }
            ApiError::Auth(AuthError::BadConfig { .. }) | ApiError::Internal(_) => {
                tracing::error!(error = %self, "internal error answering a request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal error, see the server log"}),
                )
            }
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, json!({"error": msg})),
            ApiError::Query {
                position,
                message,
                rendered,
            } => (
                StatusCode::BAD_REQUEST,
                json!({"error": message, "position": position, "detail": rendered}),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, json!({"error": "not found"})),
            ApiError::NotFoundWhat(msg) => (StatusCode::NOT_FOUND, json!({"error": msg})),
            ApiError::Conflict(msg) => (StatusCode::CONFLICT, json!({"error": msg})),
            ApiError::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, json!({"error": msg})),
            ApiError::Overloaded => {
                let mut resp = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({"error": "overloaded, retry later"})),
                )
                    .into_response();
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                return resp;
            }
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"rampart\""),
            );
        }
        resp
    }
}
