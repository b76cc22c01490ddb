//! Alert triage handlers: alerts and their workflow, alert groups, suppressions, risk scores, rule noise and the fatigue controls' settings.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::audit::{self, AuditRecord};
use crate::auth::{Permission, Principal};
use crate::{ApiError, AppState, audit_change};
use rampart_model::Timestamp;
use rampart_triage::{
    AlertQuery, AlertSort, AlertStatus, Condition, Disposition, EntityKind, Expiry, GroupQuery,
    Level, RiskQuery, SignalSource, SuppressionSpec, Triage, TriageError,
};

/// The triage routes (the authentication layer is added by [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}", get(get_one))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/alerts/{id}/assign", post(assign))
        .route("/api/v1/alerts/{id}/status", post(set_status))
        .route("/api/v1/alerts/{id}/close", post(close))
        .route("/api/v1/alert-groups", get(groups))
        .route("/api/v1/alert-groups/{id}", get(group))
        .route("/api/v1/alert-groups/{id}/close", post(close_group))
        .route("/api/v1/alert-groups/{id}/title", post(rename_group))
        .route("/api/v1/alert-groups/{id}/split", post(split_group))
        .route("/api/v1/alert-groups/{id}/unmerge", post(unmerge_group))
        .route(
            "/api/v1/suppressions",
            get(suppressions).post(add_suppression),
        )
        .route(
            "/api/v1/suppressions/{id}",
            axum::routing::delete(revoke_suppression),
        )
        .route("/api/v1/suppressions/{id}/signals", get(suppressed_signals))
        .route("/api/v1/risk", get(risk))
        .route("/api/v1/rules/noise", get(noise))
        .route(
            "/api/v1/triage/settings",
            get(settings).put(change_settings),
        )
        .route("/api/v1/triage/settings/reset", post(reset_settings))
}

fn triage(state: &AppState) -> Result<Arc<Triage>, ApiError> {
    state
        .triage
        .clone()
        .ok_or_else(|| ApiError::Unavailable("alert triage is not enabled on this server".into()))
}

/// The HTTP answer of a triage error.
pub fn api_error(e: TriageError) -> ApiError {
    match e {
        TriageError::Invalid(msg) => ApiError::BadRequest(msg),
        e @ TriageError::NotFound { .. } => ApiError::NotFoundWhat(e.to_string()),
        TriageError::Conflict(msg) => ApiError::Conflict(msg),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TriageError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("triage task failed: {e}")))?
        .map_err(api_error)
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time_param(text: &Option<String>, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    match nonempty(text).as_deref() {
        None | Some("*") => Ok(None),
        Some(text) => rampart_query::parse_time(text, now)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("invalid time '{text}': {}", e.message))),
    }
}

fn parse_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid {what} id '{text}'")))
}

/// A JSON body, or the type's default when the body is empty.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes, expected: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid body, expected {expected}: {e}")))
}

/// `kind:value` (`host:ws01`, `source_ip:2001:db8::1`) or a bare value of any kind.
fn entity_param(text: &str) -> (Option<EntityKind>, String) {
    match text.split_once(':') {
        Some((kind, value)) => match EntityKind::parse(kind) {
            Some(kind) => (Some(kind), value.trim().to_owned()),
            None => (None, text.trim().to_owned()),
        },
        None => (None, text.trim().to_owned()),
    }
}

/// Filters of `GET /api/v1/alerts`.
#[derive(Debug, Default, Deserialize)]
pub struct AlertParams {
    /// Tenant, for tokens not bound to one.
    pub tenant: Option<String>,
    /// Comma-separated statuses; `open` = new, acknowledged and in progress.
    pub status: Option<String>,
    /// Minimum level: informational, low, medium, high, critical.
    pub level: Option<String>,
    pub rule: Option<String>,
    /// detection, correlation, baseline, intel or risk.
    pub source: Option<String>,
    /// `kind:value` (`host:ws01`) or a value of any kind.
    pub entity: Option<String>,
    /// An assignee's name, or `none` for unassigned alerts.
    pub assignee: Option<String>,
    pub group: Option<String>,
    /// Seen at or after: RFC 3339 or relative (`-24h`).
    pub from: Option<String>,
    /// Seen at or before.
    pub to: Option<String>,
    /// newest (default), priority or count.
    pub sort: Option<String>,
    /// Most alerts returned (default 100, at most 10,000).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Turn the query parameters into an alert query scoped to `tenant`.
pub fn build_alert_query(
    params: &AlertParams,
    tenant: Option<String>,
) -> Result<AlertQuery, ApiError> {
    let now = Timestamp::now();
    let mut q = AlertQuery {
        tenant,
        limit: params.limit.unwrap_or(100).clamp(1, 10_000),
        offset: params.offset.unwrap_or(0),
        rule_id: nonempty(&params.rule),
        from: time_param(&params.from, now)?,
        to: match nonempty(&params.to).as_deref() {
            Some("now") => None,
            _ => time_param(&params.to, now)?,
        },
        ..Default::default()
    };
    if let Some(s) = nonempty(&params.status) {
        q.statuses = AlertStatus::parse_filter(&s).map_err(api_error)?;
    }
    if let Some(l) = nonempty(&params.level) {
        q.min_level = Some(Level::parse(&l).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown level '{l}', expected informational, low, medium, high or critical"
            ))
        })?);
    }
    if let Some(s) = nonempty(&params.source) {
        q.source = Some(SignalSource::parse(&s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown source '{s}', expected detection, correlation, baseline, intel or risk"
            ))
        })?);
    }
    q.entity = nonempty(&params.entity).map(|e| entity_param(&e));
    match nonempty(&params.assignee) {
        Some(a) if a.eq_ignore_ascii_case("none") => q.unassigned = true,
        other => q.assignee = other,
    }
    if let Some(g) = nonempty(&params.group) {
        q.group_id = Some(parse_id(&g, "group")?);
    }
    if let Some(s) = nonempty(&params.sort) {
        q.sort = AlertSort::parse(&s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown sort '{s}', expected newest, priority or count"
            ))
        })?;
    }
    Ok(q)
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<AlertParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let query = build_alert_query(&params, principal.tenant_scope(params.tenant.clone())?)?;
    let page = blocking(move || t.list(&query)).await?;
    Ok(Json(json!(page)))
}

async fn get_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "alert")?;
    let tenant = principal.tenant_scope(None)?;
    let detail = blocking(move || t.get(id, tenant.as_deref()))
        .await?
        .ok_or_else(|| ApiError::NotFoundWhat(format!("alert {id} not found")))?;
    Ok(Json(json!(detail)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    note: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// The new assignee; absent or null to unassign.
    assignee: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    disposition: Option<String>,
    note: Option<String>,
}

/// A workflow change on alert `id` by the caller, answered with the alert after it.
async fn change(
    state: AppState,
    principal: Principal,
    id: String,
    f: impl FnOnce(&Triage, i64, Option<&str>, &str) -> Result<rampart_triage::Alert, TriageError>
    + Send
    + 'static,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsTriage)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "alert")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let alert = blocking(move || f(&t, id, tenant.as_deref(), &actor)).await?;
    Ok(Json(json!({ "alert": alert })))
}

async fn ack(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: NoteBody = body(&bytes, "{\"note\": \"…\"}")?;
    change(state, principal, id, move |t, id, tenant, actor| {
        t.ack(id, tenant, actor, b.note.as_deref())
    })
    .await
}

async fn assign(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: AssignBody = body(&bytes, "{\"assignee\": \"…\", \"note\": \"…\"}")?;
    change(state, principal, id, move |t, id, tenant, actor| {
        t.assign(id, tenant, actor, b.assignee.as_deref(), b.note.as_deref())
    })
    .await
}

async fn set_status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: StatusBody = body(&bytes, "{\"status\": \"in_progress\", \"note\": \"…\"}")?;
    let text = nonempty(&b.status)
        .ok_or_else(|| ApiError::BadRequest("the body needs a status".into()))?;
    let status = AlertStatus::parse(&text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown status '{text}', expected new, acknowledged or in_progress (close with /close)"
        ))
    })?;
    change(state, principal, id, move |t, id, tenant, actor| {
        t.set_status(id, tenant, actor, status, b.note.as_deref())
    })
    .await
}

async fn close(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (disposition, note) = close_body(&bytes)?;
    change(state, principal, id, move |t, id, tenant, actor| {
        t.close(id, tenant, actor, disposition, note.as_deref())
    })
    .await
}

/// The disposition and note of a close request.
fn close_body(bytes: &Bytes) -> Result<(Disposition, Option<String>), ApiError> {
    let b: CloseBody = body(
        bytes,
        "{\"disposition\": \"false_positive\", \"note\": \"…\"}",
    )?;
    let text = nonempty(&b.disposition).ok_or_else(|| {
        ApiError::BadRequest(
            "closing needs a disposition: true_positive, benign_true_positive or false_positive"
                .into(),
        )
    })?;
    let disposition = Disposition::parse(&text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown disposition '{text}', expected true_positive, benign_true_positive or false_positive"
        ))
    })?;
    Ok((disposition, b.note))
}

/// `POST /api/v1/alert-groups/{id}/close`: close every open alert of the group.
async fn close_group(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsTriage)?;
    let (disposition, note) = close_body(&bytes)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "group")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let (closed, detail) = blocking(move || {
        let closed = t.close_group(id, tenant.as_deref(), &actor, disposition, note.as_deref())?;
        let detail = t
            .group(id, tenant.as_deref())?
            .ok_or(TriageError::NotFound { what: "group", id })?;
        Ok((closed, detail))
    })
    .await?;
    Ok(Json(
        json!({ "closed": closed, "group": detail.group, "alerts": detail.alerts }),
    ))
}

/// The body of `POST /api/v1/alert-groups/{id}/title`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TitleBody {
    title: Option<String>,
}

/// `POST /api/v1/alert-groups/{id}/title`: an analyst names the incident candidate.
async fn rename_group(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsTriage)?;
    let b: TitleBody = body(&bytes, "{\"title\": \"Ransomware staging on ws01\"}")?;
    let title = b.title.unwrap_or_default();
    let t = triage(&state)?;
    let id = parse_id(&id, "group")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let group = blocking(move || t.rename_group(id, tenant.as_deref(), &actor, &title)).await?;
    Ok(Json(json!({ "group": group })))
}

/// The body of `POST /api/v1/alert-groups/{id}/split`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitBody {
    alerts: Option<Vec<i64>>,
    title: Option<String>,
}

/// `POST /api/v1/alert-groups/{id}/split`: move alerts that do not belong out of the
/// incident candidate into a new one; the two are kept apart from then on.
async fn split_group(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsTriage)?;
    let b: SplitBody = body(&bytes, "{\"alerts\": [12, 15], \"title\": \"…\"}")?;
    let alerts = b.alerts.unwrap_or_default();
    let t = triage(&state)?;
    let id = parse_id(&id, "group")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let regrouped =
        blocking(move || t.split_group(id, tenant.as_deref(), &actor, &alerts, b.title.as_deref()))
            .await?;
    audit_regroup(&state, &principal, "alert_group.split", id, &regrouped);
    Ok(Json(json!(regrouped)))
}

/// The audit record of a split or an undone merge: which alerts went from where to where.
fn audit_regroup(
    state: &AppState,
    principal: &Principal,
    action: &str,
    id: i64,
    r: &rampart_triage::Regrouped,
) {
    let moved: Vec<String> = r.moved.iter().map(i64::to_string).collect();
    let detail = format!(
        "alerts {} from group {} to group {}",
        moved.join(","),
        r.from.id,
        r.group.id
    );
    audit_change(state, principal, action, &id.to_string(), detail);
}

/// `POST /api/v1/alert-groups/{id}/unmerge`: undo the merge of group `id` into another;
/// the alerts it brought go back to it.
async fn unmerge_group(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsTriage)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "group")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let regrouped = blocking(move || t.unmerge_group(id, tenant.as_deref(), &actor)).await?;
    audit_regroup(&state, &principal, "alert_group.unmerge", id, &regrouped);
    Ok(Json(json!(regrouped)))
}

/// Filters of `GET /api/v1/alert-groups`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupParams {
    pub tenant: Option<String>,
    /// Only groups with at least this many alerts.
    pub min_alerts: Option<u64>,
    /// Only groups with an alert not closed.
    pub open: Option<bool>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// newest (default) or priority.
    pub sort: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

async fn groups(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<GroupParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let now = Timestamp::now();
    let by_priority = match nonempty(&params.sort).as_deref() {
        None | Some("newest") => false,
        Some("priority") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort '{other}', expected newest or priority"
            )));
        }
    };
    let query = GroupQuery {
        tenant: principal.tenant_scope(params.tenant.clone())?,
        min_alerts: params.min_alerts.unwrap_or(0),
        open_only: params.open.unwrap_or(false),
        from: time_param(&params.from, now)?,
        to: time_param(&params.to, now)?,
        by_priority,
        limit: params.limit.unwrap_or(100).clamp(1, 10_000),
        offset: params.offset.unwrap_or(0),
    };
    let page = blocking(move || t.groups(&query)).await?;
    Ok(Json(json!(page)))
}

async fn group(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "group")?;
    let tenant = principal.tenant_scope(None)?;
    let detail = blocking(move || t.group(id, tenant.as_deref()))
        .await?
        .ok_or_else(|| ApiError::NotFoundWhat(format!("group {id} not found")))?;
    Ok(Json(json!(detail)))
}

#[derive(Debug, Default, Deserialize)]
struct TenantParams {
    tenant: Option<String>,
}

/// Query of `GET /api/v1/suppressions/{id}/signals`.
#[derive(Debug, Default, Deserialize)]
struct SignalsParams {
    limit: Option<usize>,
}

/// `GET /api/v1/suppressions/{id}/signals`: what a suppression muted, newest first.
async fn suppressed_signals(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(params): Query<SignalsParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "suppression")?;
    let tenant = principal.tenant_scope(None)?;
    let limit = params
        .limit
        .unwrap_or(100)
        .min(rampart_triage::KEPT_SIGNALS as usize);
    let (suppression, signals) =
        blocking(move || t.suppressed_signals(id, tenant.as_deref(), limit)).await?;
    Ok(Json(json!({
        "suppression": suppression,
        "signals": signals,
        "kept_at_most": rampart_triage::KEPT_SIGNALS,
    })))
}

async fn suppressions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<TenantParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let tenant = principal.tenant_scope(params.tenant)?;
    let list = blocking(move || t.suppressions(tenant.as_deref())).await?;
    Ok(Json(json!({ "suppressions": list })))
}

/// The body of `POST /api/v1/suppressions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressionBody {
    tenant: Option<String>,
    rule_id: Option<String>,
    #[serde(default)]
    conditions: Vec<Condition>,
    reason: Option<String>,
    /// `never`, a duration (`7d`) or a time; required.
    expires: Option<String>,
}

async fn add_suppression(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::SuppressionsAdmin)?;
    let t = triage(&state)?;
    let b: SuppressionBody = body(
        &bytes,
        "{\"rule_id\": \"…\", \"conditions\": [{\"field\": \"user\", \"equals\": \"…\"}], \"reason\": \"…\", \"expires\": \"7d\"}",
    )?;
    let expires_text = nonempty(&b.expires).ok_or_else(|| {
        ApiError::BadRequest(
            "a suppression needs an expiry: a duration such as 7d, a time, or never".into(),
        )
    })?;
    let expires = Expiry::parse(&expires_text, Timestamp::now()).map_err(api_error)?;
    // A mistyped rule id would mute nothing while looking like it does: say so.
    let mut warnings: Vec<String> = Vec::new();
    if let Some(rule) = nonempty(&b.rule_id) {
        let (detection, triage_db) = (state.detection.clone(), t.clone());
        let known = {
            let rule = rule.clone();
            tokio::task::spawn_blocking(move || known_rule(detection.as_deref(), &triage_db, &rule))
                .await
                .map_err(|e| ApiError::Internal(format!("rule lookup failed: {e}")))??
        };
        if !known {
            warnings.push(format!(
                "no loaded rule has the id {rule:?} and no alert came from one: this suppression \
                 mutes nothing until such a rule fires (ids: `rampart rules list`, `rampart alerts noise`)"
            ));
        }
    }
    let spec = SuppressionSpec {
        tenant: principal.tenant_scope(b.tenant)?,
        rule_id: b.rule_id,
        conditions: b.conditions,
        author: principal.name.clone(),
        reason: b.reason.unwrap_or_default(),
        expires,
    };
    let created = blocking(move || t.add_suppression(spec)).await?;
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: principal.name,
        role: Some(format!("{:?}", principal.role)),
        action: "suppression.add".into(),
        target: created.id.to_string(),
        outcome: "ok".into(),
        detail: Some(created.reason.clone()),
        peer: None,
    });
    Ok(Json(
        json!({ "suppression": created, "warnings": warnings }),
    ))
}

/// Whether `rule` names a loaded detection rule (Sigma, correlation or baseline), an intel
/// or risk rule of triage, or a rule some signal already came from.
fn known_rule(
    detection: Option<&rampart_detections::DetectionService>,
    triage: &Triage,
    rule: &str,
) -> Result<bool, ApiError> {
    if rule == rampart_triage::RISK_RULE_ID
        || rule.strip_prefix("intel.").is_some_and(|kind| {
            rampart_intel::IndicatorKind::ALL
                .iter()
                .any(|k| k.as_str() == kind)
        })
    {
        return Ok(true);
    }
    if let Some(d) = detection {
        let rules = d
            .rules(None)
            .map_err(|e| ApiError::Internal(format!("listing the rules: {e}")))?;
        if rules.iter().any(|r| r.id == rule) {
            return Ok(true);
        }
    }
    Ok(triage
        .rule_noise(None)
        .map_err(api_error)?
        .iter()
        .any(|n| n.rule_id == rule))
}

async fn revoke_suppression(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::SuppressionsAdmin)?;
    let t = triage(&state)?;
    let id = parse_id(&id, "suppression")?;
    let tenant = principal.tenant_scope(None)?;
    let actor = principal.name.clone();
    let revoked = blocking(move || t.revoke_suppression(id, tenant.as_deref(), &actor)).await?;
    state.audit.record(&AuditRecord {
        time: audit::now_rfc3339(),
        actor: principal.name,
        role: Some(format!("{:?}", principal.role)),
        action: "suppression.revoke".into(),
        target: id.to_string(),
        outcome: "ok".into(),
        detail: None,
        peer: None,
    });
    Ok(Json(json!({ "suppression": revoked })))
}

/// Filters of `GET /api/v1/risk`.
#[derive(Debug, Default, Deserialize)]
pub struct RiskParams {
    pub tenant: Option<String>,
    /// `kind:value` or a value of any kind.
    pub entity: Option<String>,
    /// Only this kind: host, user, source_ip, …
    pub kind: Option<String>,
    /// End of the window (default: the newest contribution).
    pub at: Option<String>,
    pub min_score: Option<u32>,
    pub limit: Option<usize>,
}

async fn risk(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<RiskParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let (mut kind, value) = match nonempty(&params.entity) {
        Some(e) => {
            let (k, v) = entity_param(&e);
            (k, Some(v))
        }
        None => (None, None),
    };
    if let Some(k) = nonempty(&params.kind) {
        kind = Some(EntityKind::parse(&k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown entity kind '{k}', expected host, user, source_ip, destination_ip, process or file_hash"
            ))
        })?);
    }
    let query = RiskQuery {
        tenant: principal.tenant_scope(params.tenant.clone())?,
        kind,
        value,
        at: time_param(&params.at, Timestamp::now())?,
        min_score: params.min_score.unwrap_or(0),
        limit: params.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let threshold = t.settings().risk.threshold;
    let scores = blocking(move || t.risk_scores(&query)).await?;
    Ok(Json(json!({ "threshold": threshold, "entities": scores })))
}

async fn noise(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<TenantParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let tenant = principal.tenant_scope(params.tenant)?;
    let rules = blocking(move || t.rule_noise(tenant.as_deref())).await?;
    Ok(Json(json!({ "rules": rules })))
}

/// `GET /api/v1/triage/settings`: the settings in force, their source (the configuration
/// file or a change through the API) and the last changes.
async fn settings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AlertsRead)?;
    let t = triage(&state)?;
    let state = blocking(move || t.settings_state()).await?;
    Ok(Json(json!(state)))
}

/// The body of `PUT /api/v1/triage/settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    /// A JSON merge patch over the settings in force.
    settings: Option<Value>,
    reason: Option<String>,
}

/// `PUT /api/v1/triage/settings`: change the fatigue controls on the running server, from
/// the next batch of signals; kept across restarts until reset.
async fn change_settings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::TriageSettingsAdmin)?;
    let b: SettingsBody = body(
        &bytes,
        "{\"settings\": {\"risk\": {\"threshold\": 150}}, \"reason\": \"…\"}",
    )?;
    let patch = b.settings.ok_or_else(|| {
        ApiError::BadRequest(
            "a settings change needs \"settings\": the settings to change, as in GET".into(),
        )
    })?;
    let t = triage(&state)?;
    let actor = principal.name.clone();
    let detail = format!(
        "{patch}{}",
        b.reason
            .as_deref()
            .map(|r| format!(" (reason: {r})"))
            .unwrap_or_default()
    );
    let settings = blocking(move || t.update_settings(&patch, &actor, b.reason.as_deref())).await?;
    audit_change(
        &state,
        &principal,
        "triage.settings.change",
        "triage settings",
        detail,
    );
    Ok(Json(json!(settings)))
}

/// The body of `POST /api/v1/triage/settings/reset`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

/// `POST /api/v1/triage/settings/reset`: back to the configuration file's `[triage]`.
async fn reset_settings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::TriageSettingsAdmin)?;
    let b: ReasonBody = body(&bytes, "{\"reason\": \"…\"}")?;
    let t = triage(&state)?;
    let actor = principal.name.clone();
    let detail = format!(
        "back to the configuration file{}",
        b.reason
            .as_deref()
            .map(|r| format!(" (reason: {r})"))
            .unwrap_or_default()
    );
    let settings = blocking(move || t.reset_settings(&actor, b.reason.as_deref())).await?;
    audit_change(
        &state,
        &principal,
        "triage.settings.reset",
        "triage settings",
        detail,
    );
    Ok(Json(json!(settings)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ApiTokenConfig, Authenticator, Role, sha256_hex};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use rampart_triage::{Entities, Signal, TriageConfig};
    use tower::ServiceExt;

    struct Fixture {
        app: Router,
        _dir: tempfile::TempDir,
        store: Arc<rampart_store::EmbeddedStore>,
        alert_id: i64,
    }

    /// A real app (store, audit, triage in a temporary directory) with one token per role
    /// (the secret is the role's name) and one alert.
    fn fixture() -> Fixture {
        fixture_with(Router::new())
    }

    fn fixture_with(ingest_routes: Router) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            rampart_store::EmbeddedStore::open(&dir.path().join("store"), Default::default())
                .expect("store"),
        );
        let tokens: Vec<ApiTokenConfig> = [
            ("viewer", Role::Viewer, None),
            ("analyst", Role::Analyst, None),
            ("engineer", Role::SocEngineer, None),
            ("acme-engineer", Role::SocEngineer, Some("acme")),
        ]
        .into_iter()
        .map(|(name, role, tenant)| ApiTokenConfig {
            name: name.into(),
            role,
            tenant: tenant.map(str::to_owned),
            sha256: sha256_hex(name),
        })
        .collect();
        let triage =
            Triage::open(&dir.path().join("triage.db"), TriageConfig::default()).expect("triage");
        let signal = Signal::new(
            SignalSource::Detection,
            "r1",
            "Whoami",
            Level::High,
            Timestamp::now(),
        )
        .with_entities(Entities {
            host: Some("ws01".into()),
            ..Default::default()
        });
        let alert_id = triage.process(vec![signal]).expect("process").created[0];
        let state = AppState {
            store: store.clone(),
            ingest_metrics: Arc::new(Default::default()),
            auth: Arc::new(Authenticator::new(&tokens).expect("tokens")),
            audit: Arc::new(audit::AuditLog::open(&dir.path().join("audit.log")).expect("audit")),
            started: std::time::Instant::now(),
            status_sections: Arc::new(Vec::new()),
            detection: None,
            triage: Some(Arc::new(triage)),
            intel: None,
        };
        Fixture {
            app: crate::app(state, ingest_routes),
            _dir: dir,
            store,
            alert_id,
        }
    }

    /// A panicking handler answers 500 in the API's error shape and the app keeps serving.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_app_goes_on() {
        let boom = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                let v: Vec<u8> = Vec::new();
                v[usize::from(v.is_empty())].to_string()
            }),
        );
        let f = fixture_with(boom);
        let (status, body) = call(&f.app, "viewer", Method::GET, "/boom", Value::Null).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body["error"],
            "internal error: the request could not be handled"
        );
        let (status, _) = call(&f.app, "viewer", Method::GET, "/api/v1/alerts", Value::Null).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn call(
        app: &Router,
        token: &str,
        method: Method,
        uri: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .expect("valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn roles_decide_who_reads_triages_and_suppresses() {
        let f = fixture();
        let id = f.alert_id;
        let close = json!({"disposition": "false_positive", "note": "admin test"});
        let suppress = json!({"rule_id": "r1", "conditions": [{"field": "host", "equals": "ws01"}],
                              "reason": "lab host", "expires": "7d"});
        let cases: Vec<(&str, Method, String, Value, StatusCode)> = vec![
            (
                "viewer",
                Method::GET,
                "/api/v1/alerts?status=open".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                format!("/api/v1/alerts/{id}"),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                "/api/v1/alert-groups".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                "/api/v1/risk".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                "/api/v1/rules/noise".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                "/api/v1/triage/settings".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "analyst",
                Method::PUT,
                "/api/v1/triage/settings".into(),
                json!({"settings": {"risk": {"threshold": 150}}}),
                StatusCode::FORBIDDEN,
            ),
            (
                "analyst",
                Method::POST,
                "/api/v1/triage/settings/reset".into(),
                Value::Null,
                StatusCode::FORBIDDEN,
            ),
            (
                "engineer",
                Method::PUT,
                "/api/v1/triage/settings".into(),
                json!({"settings": {"risk": {"threshold": "high"}}}),
                StatusCode::BAD_REQUEST,
            ),
            // The settings are every tenant's: a token bound to one may not change them.
            (
                "acme-engineer",
                Method::PUT,
                "/api/v1/triage/settings".into(),
                json!({"settings": {"risk": {"threshold": 150}}}),
                StatusCode::FORBIDDEN,
            ),
            (
                "acme-engineer",
                Method::POST,
                "/api/v1/triage/settings/reset".into(),
                Value::Null,
                StatusCode::FORBIDDEN,
            ),
            (
                "engineer",
                Method::PUT,
                "/api/v1/triage/settings".into(),
                json!({"settings": {"risk": {"threshold": 150}}, "reason": "test"}),
                StatusCode::OK,
            ),
            (
                "engineer",
                Method::POST,
                "/api/v1/triage/settings/reset".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::GET,
                "/api/v1/suppressions".into(),
                Value::Null,
                StatusCode::OK,
            ),
            (
                "viewer",
                Method::POST,
                format!("/api/v1/alerts/{id}/close"),
                close.clone(),
                StatusCode::FORBIDDEN,
            ),
            (
                "viewer",
                Method::POST,
                format!("/api/v1/alerts/{id}/ack"),
                Value::Null,
                StatusCode::FORBIDDEN,
            ),
            (
                "nobody",
                Method::GET,
                "/api/v1/alerts".into(),
                Value::Null,
                StatusCode::UNAUTHORIZED,
            ),
            (
                "analyst",
                Method::POST,
                "/api/v1/suppressions".into(),
                suppress.clone(),
                StatusCode::FORBIDDEN,
            ),
            (
                "analyst",
                Method::POST,
                format!("/api/v1/alerts/{id}/close"),
                json!({}),
                StatusCode::BAD_REQUEST,
            ),
            (
                "analyst",
                Method::POST,
                format!("/api/v1/alerts/{id}/assign"),
                json!({"assignee": "carol"}),
                StatusCode::OK,
            ),
            (
                "analyst",
                Method::POST,
                format!("/api/v1/alerts/{id}/close"),
                close.clone(),
                StatusCode::OK,
            ),
            (
                "analyst",
                Method::POST,
                format!("/api/v1/alerts/{id}/close"),
                close,
                StatusCode::CONFLICT,
            ),
            (
                "analyst",
                Method::POST,
                "/api/v1/alerts/999/ack".into(),
                Value::Null,
                StatusCode::NOT_FOUND,
            ),
            (
                "analyst",
                Method::GET,
                "/api/v1/alerts?level=urgent".into(),
                Value::Null,
                StatusCode::BAD_REQUEST,
            ),
            (
                "engineer",
                Method::POST,
                "/api/v1/suppressions".into(),
                json!({"rule_id": "r1", "reason": "x"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                "engineer",
                Method::POST,
                "/api/v1/suppressions".into(),
                suppress,
                StatusCode::OK,
            ),
            (
                "engineer",
                Method::DELETE,
                "/api/v1/suppressions/1".into(),
                Value::Null,
                StatusCode::OK,
            ),
        ];
        for (token, method, uri, body, expected) in cases {
            let (status, answer) = call(&f.app, token, method.clone(), &uri, body).await;
            assert_eq!(status, expected, "{token} {method} {uri}: {answer}");
        }
        // The close was recorded as the analyst's, with the disposition.
        let (_, detail) = call(
            &f.app,
            "viewer",
            Method::GET,
            &format!("/api/v1/alerts/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(detail["alert"]["disposition"], "false_positive");
        assert_eq!(detail["alert"]["assignee"], "carol");
        let last = &detail["history"][2];
        assert_eq!(
            (last["actor"].as_str(), last["action"].as_str()),
            (Some("analyst"), Some("close"))
        );
        let (_, list) = call(
            &f.app,
            "viewer",
            Method::GET,
            "/api/v1/suppressions",
            Value::Null,
        )
        .await;
        assert_eq!(list["suppressions"][0]["author"], "engineer");
        assert_eq!(list["suppressions"][0]["state"], "revoked");
        let (_, noise) = call(
            &f.app,
            "viewer",
            Method::GET,
            "/api/v1/rules/noise",
            Value::Null,
        )
        .await;
        assert_eq!(noise["rules"][0]["false_positive_rate"], 1.0);
        rampart_store::EventStore::close(f.store.as_ref()).expect("close the store");
    }

    #[tokio::test]
    async fn a_suppression_of_an_unknown_rule_is_kept_with_a_warning() {
        let f = fixture();
        let add = |rule: &str| {
            json!({"rule_id": rule, "conditions": [{"field": "host", "equals": "ws01"}],
                   "reason": "test", "expires": "1d"})
        };
        // r1 raised the fixture's alert; intel and risk rules are triage's own.
        for rule in ["r1", "intel.ipv4", rampart_triage::RISK_RULE_ID] {
            let (status, answer) = call(
                &f.app,
                "engineer",
                Method::POST,
                "/api/v1/suppressions",
                add(rule),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["warnings"], json!([]), "{rule}");
        }
        let (status, answer) = call(
            &f.app,
            "engineer",
            Method::POST,
            "/api/v1/suppressions",
            add("rl"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer["suppression"]["id"].as_i64().is_some(), "{answer}");
        let warning = answer["warnings"][0].as_str().unwrap_or_default();
        assert!(
            warning.contains("\"rl\"") && warning.contains("mutes nothing"),
            "{answer}"
        );
        rampart_store::EventStore::close(f.store.as_ref()).expect("close the store");
    }

    #[test]
    fn triage_permissions_follow_the_roles() {
        use Permission::{AlertsRead, AlertsTriage, SuppressionsAdmin, TriageSettingsAdmin};
        let cases = [
            (Role::Viewer, [true, false, false, false]),
            (Role::Analyst, [true, true, false, false]),
            (Role::IncidentResponder, [true, true, false, false]),
            (Role::SocEngineer, [true, true, true, true]),
            (Role::SocManager, [true, true, true, true]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, expected) in cases {
            let got = [
                AlertsRead,
                AlertsTriage,
                SuppressionsAdmin,
                TriageSettingsAdmin,
            ]
            .map(|p| role.allows(p));
            assert_eq!(got, expected, "{role:?}");
        }
    }

    #[test]
    fn entity_parameters_split_on_a_known_kind_only() {
        let cases = [
            ("host:ws01", (Some(EntityKind::Host), "ws01")),
            (
                "source_ip:2001:db8::1",
                (Some(EntityKind::SourceIp), "2001:db8::1"),
            ),
            ("2001:db8::1", (None, "2001:db8::1")),
            ("bob", (None, "bob")),
        ];
        for (text, (kind, value)) in cases {
            assert_eq!(entity_param(text), (kind, value.to_owned()), "{text}");
        }
    }
}
