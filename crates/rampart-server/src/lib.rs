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

/// Most bytes of an action's detail kept in the audit trail.
const AUDIT_DETAIL_MAX: usize = 2048;

/// Record in the audit trail that `principal` did `action` on `target`, with `detail`
/// (what changed, why).
pub(crate) fn audit_change(
    state: &AppState,
    principal: &Principal,
    action: &str,
    target: &str,
    detail: String,
) {
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: principal.name.clone(),
        role: Some(format!("{:?}", principal.role)),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: "ok".into(),
        detail: Some(truncate(&detail, AUDIT_DETAIL_MAX)),
        peer: None,
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

#[cfg(test)]
mod tests {
    /// The (path, method) pairs a module's `routes()` declares, read from its source, so
    /// that a route added without its OpenAPI entry fails the test below.
    fn declared_routes(source: &str) -> Vec<(String, String)> {
        let start = source.find("pub fn routes()").expect("a routes() function");
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").expect("end of routes()")];
        let mut out = Vec::new();
        for call in body.split(".route(").skip(1) {
            let mut quoted = call.split('"');
            let path = quoted.nth(1).expect("a route path").to_owned();
            for method in ["get", "post", "put", "delete", "patch"] {
                let token = format!("{method}(");
                let declared = call.match_indices(&token).any(|(i, _)| {
                    !call[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if declared {
                    out.push((path.clone(), method.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("valid openapi json");
        let sources = [
            include_str!("alerts.rs"),
            include_str!("api.rs"),
            include_str!("detections.rs"),
            include_str!("intel.rs"),
        ];
        let routes: Vec<(String, String)> =
            sources.iter().flat_map(|s| declared_routes(s)).collect();
        // The reader sees every module's routes, including the ones added last.
        for expected in [
            ("/api/v1/alert-groups/{id}/split", "post"),
            ("/api/v1/triage/settings", "put"),
            ("/api/v1/suppressions/{id}", "delete"),
            ("/api/v1/intel/feeds", "post"),
            ("/api/v1/retention/run", "post"),
        ] {
            assert!(
                routes.contains(&(expected.0.to_owned(), expected.1.to_owned())),
                "{expected:?} not read from the sources: {routes:?}"
            );
        }
        assert!(routes.len() > 40, "{routes:?}");
        for (path, method) in &routes {
            assert!(
                spec["paths"][path.as_str()][method.as_str()].is_object(),
                "{method} {path} is served but not in openapi.json"
            );
        }
    }
}
