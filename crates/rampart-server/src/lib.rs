//! Rampart's HTTP surface: the REST API under `/api/v1`, the shippers' ingest endpoints
//! (mounted from `rampart-ingest`), the web console, authentication, role checks and the
//! audit trail.
//!
//! The crate sees storage only through `rampart_store::EventStore`, detections only through
//! `rampart_detections::DetectionService`, and ingest only through the router and metrics that
//! `rampart-ingest` hands it. It does not open sockets for
//! syslog or read files; the binary wires those.

pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
mod console;
pub mod detections;
pub mod error;
pub mod intel;
pub mod serve;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use audit::{AuditLog, AuditRecord};
pub use auth::{ApiTokenConfig, Authenticator, Permission, Principal, Role};
pub use error::ApiError;

/// Everything a request handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn rampart_store::EventStore>,
    pub ingest_metrics: Arc<rampart_ingest::IngestMetrics>,
    pub auth: Arc<Authenticator>,
    pub audit: Arc<AuditLog>,
    pub started: Instant,
    /// Extra status sections other subsystems publish (name → JSON producer).
    pub status_sections: Arc<Vec<(String, StatusSection)>>,
    /// Live detection, when enabled: detections and rule management.
    pub detection: Option<Arc<rampart_detections::DetectionService>>,
    /// Alert triage, when enabled: alerts, groups, suppressions, risk and rule noise.
    pub triage: Option<Arc<rampart_triage::Triage>>,
    /// Threat intel, when enabled: indicators, feeds, allow-list and sightings.
    pub intel: Option<Arc<rampart_intel::IntelService>>,
}

pub type StatusSection = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The whole HTTP application: API, console and the given ingest routes.
///
/// `ingest_routes` carries its own token check (shippers use ingest tokens, not API tokens).
pub fn app(state: AppState, ingest_routes: Router) -> Router {
    let api = api::routes()
        .merge(detections::routes())
        .merge(alerts::routes())
        .merge(intel::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state.clone());
    Router::new()
        .merge(api)
        .merge(api::public_routes())
        .merge(console::routes())
        .merge(ingest_routes)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// A handler that panicked (a defect: bad input must get a clear error) answers 500 with
/// the JSON error shape of every other failure, and the panic is logged; the connection
/// and the server go on. Nothing was acknowledged: ingest answers only once durable.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown cause");
    tracing::error!(panic = detail, "request handler panicked");
    let body = serde_json::json!({ "error": "internal error: the request could not be handled" });
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(body),
    )
        .into_response()
}

/// Resolve the bearer token to a [`Principal`] (401 otherwise), run the handler, then
/// write an audit record of who did what with which outcome.
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string());
    let action = format!("{} {}", request.method(), request.uri().path());
    let target = request
        .uri()
        .query()
        .map(|q| truncate(q, 512))
        .unwrap_or_default();
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match auth::bearer(header) {
        None => {
            record_rejection(&state, &action, &target, peer, "401 missing token");
            return Err(ApiError::Auth(auth::AuthError::Missing));
        }
        Some(secret) => match state.auth.authenticate(secret) {
            Ok(p) => p,
            Err(e) => {
                record_rejection(&state, &action, &target, peer, "401 invalid token");
                return Err(ApiError::Auth(e));
            }
        },
    };
    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: principal.name,
        role: Some(format!("{:?}", principal.role)),
        action,
        target,
        outcome: response.status().as_u16().to_string(),
        detail: None,
        peer,
    });
    Ok(response)
}

fn record_rejection(
    state: &AppState,
    action: &str,
    target: &str,
    peer: Option<String>,
    outcome: &str,
) {
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: "anonymous".into(),
        role: None,
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
        detail: None,
        peer,
    });
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
