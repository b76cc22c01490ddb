//! Detection and rule handlers under `/api/v1/detections` and `/api/v1/rules`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::audit::{self, AuditRecord};
use crate::auth::{Permission, Principal};
use crate::{ApiError, AppState};
use rampart_detections::{DetectionQuery, DetectionService};
use rampart_model::Timestamp;

/// The detection routes (the authentication layer is added by [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/detections", get(list))
        .route("/api/v1/detections/counts", get(counts))
        .route("/api/v1/detections/{id}", get(get_one))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/diagnostics", get(diagnostics))
        .route("/api/v1/rules/reload", post(reload))
        .route("/api/v1/rules/{id}/enable", post(enable))
        .route("/api/v1/rules/{id}/disable", post(disable))
}

fn service(state: &AppState) -> Result<Arc<DetectionService>, ApiError> {
    state.detection.clone().ok_or_else(|| {
        ApiError::Unavailable(
            "detection is not enabled on this server ([detection] enabled)".into(),
        )
    })
}

/// Filters of `GET /api/v1/detections` and `/counts`.
#[derive(Debug, Default, Deserialize)]
pub struct DetectionParams {
    /// Tenant, for tokens not bound to one.
    pub tenant: Option<String>,
    /// Rule id.
    pub rule: Option<String>,
    /// `rule`, `correlation` or `baseline`.
    pub kind: Option<String>,
    /// Minimum level: informational, low, medium, high, critical.
    pub level: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    /// Start of the event-time range: RFC 3339 or relative (`-24h`). Default: all time.
    pub from: Option<String>,
    /// End of the event-time range. Default: now and later.
    pub to: Option<String>,
    /// Text in the rule title or the key fields.
    pub q: Option<String>,
    /// Most detections returned (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn time_param(text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    match text.map(str::trim) {
        None | Some("") | Some("*") => Ok(None),
        Some(text) => rampart_query::parse_time(text, now)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("invalid time '{text}': {}", e.message))),
    }
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Turn the query parameters into a detection query scoped to `tenant`.
pub fn build_query(
    params: &DetectionParams,
    tenant: Option<String>,
) -> Result<DetectionQuery, ApiError> {
    let now = Timestamp::now();
    let min_level = match nonempty(&params.level) {
        None => None,
        Some(l) => Some(rampart_detections::parse_min_level(&l).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown level '{l}', expected informational, low, medium, high or critical"
            ))
        })?),
    };
    let after = match nonempty(&params.cursor) {
        None => None,
        Some(c) => Some(c.parse().map_err(ApiError::BadRequest)?),
    };
    let kind = match nonempty(&params.kind) {
        None => None,
        Some(k) => Some(rampart_detections::DetectionKind::parse(&k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown detection kind '{k}', expected rule, correlation or baseline"
            ))
        })?),
    };
    Ok(DetectionQuery {
        tenant,
        kind,
        rule_id: nonempty(&params.rule),
        min_level,
        host: nonempty(&params.host),
        user: nonempty(&params.user),
        from: time_param(params.from.as_deref(), now)?,
        to: match params.to.as_deref() {
            Some("now") => None,
            other => time_param(other, now)?,
        },
        text: nonempty(&params.q),
        limit: params.limit.unwrap_or(100).clamp(1, 10_000),
        after,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, rampart_detections::DetectionsError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("detection task failed: {e}")))?
        .map_err(ApiError::from)
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<DetectionParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::DetectionsRead)?;
    let svc = service(&state)?;
    let query = build_query(&params, principal.tenant_scope(params.tenant.clone())?)?;
    let page = blocking(move || svc.list(&query)).await?;
    Ok(Json(json!(page)))
}

async fn counts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<DetectionParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::DetectionsRead)?;
    let svc = service(&state)?;
    let query = build_query(&params, principal.tenant_scope(params.tenant.clone())?)?;
    let counts = blocking(move || svc.counts(&query)).await?;
    Ok(Json(json!(counts)))
}

async fn get_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::DetectionsRead)?;
    let svc = service(&state)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid detection id '{id}'")))?;
    let tenant = principal.tenant_scope(None)?;
    let t = tenant.clone();
    let detection = blocking(move || svc.get(id, t.as_deref()))
        .await?
        .ok_or(ApiError::NotFound)?;
    // The linked event and, for correlations and baselines, the contributing events
    // (bounded by the engines), for roles that may read events.
    let (event, events) = if principal.role.allows(Permission::EventsRead) {
        let store = state.store.clone();
        let event_id = detection.data.event_id;
        let contributing = detection.data.event_ids.clone();
        tokio::task::spawn_blocking(move || {
            let event = match event_id {
                Some(id) => store.get(tenant.as_deref(), id)?,
                None => None,
            };
            let mut events = Vec::new();
            for id in contributing {
                if let Some(e) = store.get(tenant.as_deref(), id)? {
                    events.push(e.to_document());
                }
            }
            Ok::<_, rampart_store::StoreError>((event, events))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("lookup task failed: {e}")))??
    } else {
        (None, Vec::new())
    };
    Ok(Json(json!({
        "detection": detection,
        "event": event,
        "document": event.as_ref().map(|e| e.to_document()),
        "events": events,
    })))
}

async fn rules(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::DetectionsRead)?;
    let svc = service(&state)?;
    let tenant = principal.tenant_scope(None)?;
    let status = svc.status().rules;
    let rules = blocking(move || svc.rules(tenant.as_deref())).await?;
    Ok(Json(json!({ "status": status, "rules": rules })))
}

async fn diagnostics(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::DetectionsRead)?;
    let svc = service(&state)?;
    Ok(Json(json!({ "diagnostics": svc.diagnostics() })))
}

async fn reload(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::RulesAdmin)?;
    let svc = service(&state)?;
    let report = blocking(move || svc.reload()).await?;
    Ok(Json(json!({ "report": report })))
}

#[derive(Debug, Default, Deserialize)]
struct ReasonParams {
    reason: Option<String>,
}

/// The reason of a rule change: `?reason=` or a JSON body `{"reason": "…"}`.
fn reason(query: ReasonParams, body: &Bytes) -> Result<Option<String>, ApiError> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<ReasonParams>(body)
            .map_err(|e| {
                ApiError::BadRequest(format!("invalid body, expected {{\"reason\": \"…\"}}: {e}"))
            })?
            .reason
    };
    Ok(nonempty(&from_body.or(query.reason)))
}

async fn set_enabled(
    state: AppState,
    principal: Principal,
    id: String,
    enabled: bool,
    query: ReasonParams,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::RulesAdmin)?;
    let svc = service(&state)?;
    let reason = reason(query, &body)?;
    let (actor, rule) = (principal.name.clone(), id.clone());
    let why = reason.clone();
    let rule_state = blocking(move || svc.set_enabled(&rule, enabled, &actor, why)).await?;
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: principal.name,
        role: Some(format!("{:?}", principal.role)),
        action: if enabled {
            "rule.enable"
        } else {
            "rule.disable"
        }
        .into(),
        target: id,
        outcome: "ok".into(),
        detail: reason,
        peer: None,
    });
    Ok(Json(json!({ "state": rule_state })))
}

async fn enable(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(query): Query<ReasonParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, principal, id, true, query, body).await
}

async fn disable(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(query): Query<ReasonParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, principal, id, false, query, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_a_query() {
        let params = DetectionParams {
            rule: Some(" r1 ".into()),
            level: Some("High".into()),
            host: Some(String::new()),
            from: Some("2024-01-01T00:00:00Z".into()),
            limit: Some(1_000_000),
            cursor: Some("5:7".into()),
            ..Default::default()
        };
        let q = build_query(&params, Some("acme".into())).expect("valid");
        assert_eq!(q.rule_id.as_deref(), Some("r1"));
        assert_eq!(q.min_level, Some(4));
        assert_eq!(q.host, None);
        assert_eq!(q.tenant.as_deref(), Some("acme"));
        assert_eq!(q.limit, 10_000);
        assert_eq!(q.after.map(|c| (c.event_time, c.id)), Some((5, 7)));
        assert!(q.from.is_some() && q.to.is_none());
    }

    #[test]
    fn bad_parameters_are_refused_with_their_value() {
        for (params, needle) in [
            (
                DetectionParams {
                    level: Some("urgent".into()),
                    ..Default::default()
                },
                "urgent",
            ),
            (
                DetectionParams {
                    from: Some("yesterday-ish".into()),
                    ..Default::default()
                },
                "yesterday-ish",
            ),
            (
                DetectionParams {
                    cursor: Some("x".into()),
                    ..Default::default()
                },
                "cursor",
            ),
        ] {
            let err = build_query(&params, None).expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn reason_comes_from_body_or_query() {
        let q = |r: Option<&str>| ReasonParams {
            reason: r.map(str::to_owned),
        };
        assert_eq!(
            reason(q(None), &Bytes::from_static(b"{\"reason\":\"noisy\"}")).expect("ok"),
            Some("noisy".into())
        );
        assert_eq!(
            reason(q(Some("fp")), &Bytes::from_static(b" \n")).expect("ok"),
            Some("fp".into())
        );
        assert_eq!(reason(q(None), &Bytes::new()).expect("ok"), None);
        assert!(reason(q(None), &Bytes::from_static(b"nope")).is_err());
    }
}
