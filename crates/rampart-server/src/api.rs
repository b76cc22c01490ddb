//! REST handlers under `/api/v1`. Each handler checks its permission first.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Permission, Principal};
use crate::{ApiError, AppState};
use rampart_model::{EventId, Timestamp};

/// Routes that need a token (the authentication layer is added by [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/events/{id}", get(get_event))
        .route("/api/v1/status", get(status))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/retention/run", post(run_retention))
}

/// Routes open without a token: liveness and the API description.
pub fn public_routes() -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/v1/openapi.json", get(openapi))
}

const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    /// The query text (filters and pipes).
    #[serde(default)]
    pub q: String,
    /// Start of the time range: RFC 3339 or relative (`-24h`, `now-15m`). Default: `-24h`.
    pub from: Option<String>,
    /// End of the time range. Default: now.
    pub to: Option<String>,
    /// Maximum events returned (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// Tenant to search, for tokens not bound to one.
    pub tenant: Option<String>,
    /// `json` (default), `ndjson` or `csv`.
    pub format: Option<String>,
}

fn query_error(text: &str, e: rampart_query::ParseError) -> ApiError {
    ApiError::Query {
        position: e.position,
        rendered: e.render(text),
        message: e.message,
    }
}

/// Parse the search parameters into a store request.
pub fn build_request(
    params: &SearchParams,
    tenant: Option<String>,
) -> Result<rampart_store::SearchRequest, ApiError> {
    let now = Timestamp::now();
    let search = rampart_query::parse(&params.q).map_err(|e| query_error(&params.q, e))?;
    let from = match params.from.as_deref() {
        None => Some(rampart_query::parse_time("-24h", now).map_err(|e| query_error("-24h", e))?),
        Some("") | Some("*") => None,
        Some(text) => Some(rampart_query::parse_time(text, now).map_err(|e| query_error(text, e))?),
    };
    let to = match params.to.as_deref() {
        None | Some("") | Some("now") | Some("*") => None,
        Some(text) => Some(rampart_query::parse_time(text, now).map_err(|e| query_error(text, e))?),
    };
    Ok(rampart_store::SearchRequest {
        tenant,
        search,
        from,
        to,
        limit: params.limit.unwrap_or(100).min(10_000),
    })
}

async fn search(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    principal.require(Permission::EventsRead)?;
    let tenant = principal.tenant_scope(params.tenant.clone())?;
    let request = build_request(&params, tenant)?;
    let store = state.store.clone();
    let response = tokio::task::spawn_blocking(move || store.search(&request))
        .await
        .map_err(|e| ApiError::Internal(format!("search task failed: {e}")))??;
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(response).into_response()),
        "csv" => {
            let (columns, rows) = tabulate(&response.result);
            let mut out = String::new();
            write_csv_row(&mut out, columns.iter().map(|c| Value::String(c.clone())));
            for row in rows {
                write_csv_row(&mut out, row.into_iter());
            }
            Ok((
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
                out,
            )
                .into_response())
        }
        "ndjson" => {
            let (columns, rows) = tabulate(&response.result);
            let mut out = String::new();
            for row in rows {
                let obj: serde_json::Map<String, Value> =
                    columns.iter().cloned().zip(row).collect();
                out.push_str(&Value::Object(obj).to_string());
                out.push('\n');
            }
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                )],
                out,
            )
                .into_response())
        }
        other => Err(ApiError::BadRequest(format!(
            "unknown format '{other}', expected json, ndjson or csv"
        ))),
    }
}

/// Default columns when events (not an aggregation table) are shown as a table.
pub const EVENT_COLUMNS: &[&str] = &[
    "@timestamp",
    "host.name",
    "event.outcome",
    "user.name",
    "source.ip",
    "message",
];

/// A search result as columns and rows: an aggregation table as it is, events as the
/// [`EVENT_COLUMNS`] (or, after a `fields` stage, the table the store returned).
pub fn tabulate(result: &rampart_store::SearchResult) -> (Vec<String>, Vec<Vec<Value>>) {
    match result {
        rampart_store::SearchResult::Table { columns, rows } => (columns.clone(), rows.clone()),
        rampart_store::SearchResult::Events { events, .. } => {
            let columns: Vec<String> = EVENT_COLUMNS.iter().map(|c| c.to_string()).collect();
            let rows = events
                .iter()
                .map(|ev| {
                    EVENT_COLUMNS
                        .iter()
                        .map(|c| match *c {
                            "message" => Value::String(ev.message().into_owned()),
                            other => ev.get(other).map(|v| v.into_owned()).unwrap_or(Value::Null),
                        })
                        .collect()
                })
                .collect();
            (columns, rows)
        }
    }
}

/// Append one CSV row (RFC 4180 quoting).
pub fn write_csv_row(out: &mut String, cells: impl Iterator<Item = Value>) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        let text = match cell {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out.push('\n');
}

async fn get_event(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Permission::EventsRead)?;
    let id: EventId = id
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("invalid event id: {e}")))?;
    let tenant = principal.tenant_scope(None)?;
    let store = state.store.clone();
    let event = tokio::task::spawn_blocking(move || store.get(tenant.as_deref(), id))
        .await
        .map_err(|e| ApiError::Internal(format!("lookup task failed: {e}")))??;
    match event {
        Some(ev) => Ok(Json(json!({"event": ev, "document": ev.to_document()})).into_response()),
        None => Err(ApiError::NotFound),
    }
}

/// Current figures of every subsystem.
pub fn status_document(state: &AppState) -> Value {
    let mut doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "ingest": state.ingest_metrics.snapshot(),
        "store": state.store.stats(),
        "process": process_stats(),
    });
    if let Value::Object(map) = &mut doc {
        for (name, section) in state.status_sections.iter() {
            map.insert(name.clone(), section());
        }
    }
    doc
}

async fn status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::StatusRead)?;
    Ok(Json(status_document(&state)))
}

/// The status figures in Prometheus text format (numbers only, dotted paths as names).
async fn metrics(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Permission::StatusRead)?;
    let doc = status_document(&state);
    let mut out = String::new();
    prometheus_lines(&mut out, "rampart", &doc);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        out,
    )
        .into_response())
}

fn prometheus_lines(out: &mut String, prefix: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let name: String = k
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                prometheus_lines(out, &format!("{prefix}_{name}"), v);
            }
        }
        Value::Number(n) => {
            out.push_str(prefix);
            out.push(' ');
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::Bool(b) => {
            out.push_str(prefix);
            out.push_str(if *b { " 1\n" } else { " 0\n" });
        }
        _ => {}
    }
}

/// Resident memory of this process, from /proc (Linux); absent elsewhere.
pub fn process_stats() -> Value {
    let mut rss_bytes = None;
    let mut peak_rss_bytes = None;
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            let kib = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|k| k * 1024)
            };
            if line.starts_with("VmRSS:") {
                rss_bytes = kib(line);
            } else if line.starts_with("VmHWM:") {
                peak_rss_bytes = kib(line);
            }
        }
    }
    json!({"rss_bytes": rss_bytes, "peak_rss_bytes": peak_rss_bytes})
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    limit: Option<usize>,
}

async fn audit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::AuditRead)?;
    let limit = params.limit.unwrap_or(100).min(10_000);
    let audit = state.audit.clone();
    let records = tokio::task::spawn_blocking(move || audit.tail(limit))
        .await
        .map_err(|e| ApiError::Internal(format!("audit task failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({ "records": records })))
}

async fn whoami(Extension(principal): Extension<Principal>) -> Json<Principal> {
    Json(principal)
}

async fn run_retention(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::StorageAdmin)?;
    let store = state.store.clone();
    let report = tokio::task::spawn_blocking(move || store.apply_retention())
        .await
        .map_err(|e| ApiError::Internal(format!("retention task failed: {e}")))??;
    // Closed alerts past `triage.closed_alert_retention_days`, when triage runs.
    let alerts = match state.triage.clone() {
        Some(t) => Some(
            tokio::task::spawn_blocking(move || t.apply_retention())
                .await
                .map_err(|e| ApiError::Internal(format!("alert retention task failed: {e}")))?
                .map_err(crate::alerts::api_error)?,
        ),
        None => None,
    };
    Ok(Json(json!({ "report": report, "alerts": alerts })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_follows_rfc4180() {
        let mut out = String::new();
        write_csv_row(
            &mut out,
            vec![json!("a,b"), json!("say \"hi\""), json!(3), Value::Null].into_iter(),
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",3,\n");
    }

    #[test]
    fn prometheus_output_flattens_numbers() {
        let mut out = String::new();
        prometheus_lines(
            &mut out,
            "rampart",
            &json!({"ingest": {"events_in": 5, "name": "x"}, "up": true}),
        );
        assert_eq!(out, "rampart_ingest_events_in 5\nrampart_up 1\n");
    }
}
