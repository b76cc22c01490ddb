//! Elasticsearch bulk API: `POST /_bulk` and `/{index}/_bulk` with `index`/`create`
//! actions stored as events and `update`/`delete` answered per item with an error.

use super::{BULK_LISTENER, BodyError, Credential, HttpIngestState, accept, blocking, credential};
use crate::make_event;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_model::{Event, Origin, OriginKind};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// The header every Elasticsearch 8 response carries; clients check it.
pub(super) const PRODUCT_HEADER: &str = "x-elastic-product";

/// The index name used when neither the path nor the action names one.
const DEFAULT_INDEX: &str = "rampart";

pub(super) fn es_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let headers = resp.headers_mut();
    headers.insert(PRODUCT_HEADER, HeaderValue::from_static("Elasticsearch"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(super::RETRY_AFTER_SECS),
        );
    }
    resp
}

/// An Elasticsearch-shaped error body.
pub(super) fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let cause = json!({ "type": kind, "reason": reason });
    es_json(
        status,
        json!({ "error": { "root_cause": [cause.clone()], "type": kind, "reason": reason }, "status": status.as_u16() }),
    )
}

pub(super) async fn handle(State(state): State<HttpIngestState>, req: Request) -> Response {
    bulk(state, None, req).await
}

pub(super) async fn handle_index(
    State(state): State<HttpIngestState>,
    Path(index): Path<String>,
    req: Request,
) -> Response {
    bulk(state, Some(index), req).await
}

async fn bulk(state: HttpIngestState, path_index: Option<String>, req: Request) -> Response {
    let started = Instant::now();
    let metrics = &state.bulk_metrics;
    let tenant = match credential(req.headers(), &["Basic", "ApiKey", "Bearer"]) {
        Credential::Token(t) => state.tokens.verify(&t).map(|e| e.tenant.clone()),
        Credential::Missing | Credential::Malformed => None,
    };
    let Some(tenant) = tenant else {
        metrics.rejected(1);
        let reason = format!(
            "unable to authenticate for REST request [{}]",
            req.uri().path()
        );
        let mut resp = es_error(StatusCode::UNAUTHORIZED, "security_exception", &reason);
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"security\" charset=\"UTF-8\", ApiKey"),
        );
        return resp;
    };
    let (origin, encoding, body) =
        match super::take_body(&state, req, OriginKind::HttpBulk, BULK_LISTENER, metrics).await {
            Ok(taken) => taken,
            Err(e) => return body_error(&state, e),
        };
    let worker_state = state.clone();
    let parsed = blocking(move || -> Result<Result<Parsed, String>, BodyError> {
        let body = super::decode_body(encoding.as_deref(), body, worker_state.max_decoded_bytes)?;
        Ok(parse_bulk(
            &worker_state,
            &body,
            path_index.as_deref(),
            &origin,
            &tenant,
        ))
    })
    .await;
    let parsed = match parsed {
        Ok(Ok(Ok(p))) => p,
        Ok(Ok(Err(reason))) => {
            metrics.rejected(1);
            return es_error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                &reason,
            );
        }
        Ok(Err(e)) => return body_error(&state, e),
        Err(e) => return es_error(StatusCode::INTERNAL_SERVER_ERROR, "exception", &e),
    };
    if let Err(e) = accept(&state, metrics, parsed.events).await {
        return es_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "es_rejected_execution_exception",
            &e.to_string(),
        );
    }
    es_json(
        StatusCode::OK,
        json!({
            "took": started.elapsed().as_millis() as u64,
            "errors": parsed.errors,
            "items": parsed.items,
        }),
    )
}

fn body_error(state: &HttpIngestState, e: BodyError) -> Response {
    state.bulk_metrics.rejected(1);
    let kind = match e {
        BodyError::TooLarge { .. } => "content_too_long_exception",
        _ => "parse_exception",
    };
    es_error(e.status(), kind, &e.message())
}

struct Parsed {
    events: Vec<Event>,
    items: Vec<Value>,
    errors: bool,
}

/// Walk action/source line pairs. A malformed action line refuses the whole request
/// (as Elasticsearch does); a source line that is not JSON is still stored, raw.
fn parse_bulk(
    state: &HttpIngestState,
    body: &[u8],
    path_index: Option<&str>,
    origin: &Origin,
    tenant: &str,
) -> Result<Parsed, String> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let mut out = Parsed {
        events: Vec::new(),
        items: Vec::new(),
        errors: false,
    };
    while let Some((number, line)) = lines.next() {
        let malformed =
            |why: &str| format!("Malformed action/metadata line [{}], {why}", number + 1);
        let action: Map<String, Value> = serde_json::from_slice(line)
            .map_err(|e| malformed(&format!("expected a JSON object: {e}")))?;
        let mut entries = action.into_iter();
        let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
            return Err(malformed("expected exactly one action"));
        };
        let Value::Object(meta) = meta else {
            return Err(malformed(&format!(
                "expected an object for action [{name}]"
            )));
        };
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .or(path_index)
            .unwrap_or(DEFAULT_INDEX)
            .to_owned();
        let given_id = meta.get("_id").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        match name.as_str() {
            "index" | "create" => {
                let Some((_, source)) = lines.next() else {
                    return Err(format!(
                        "action [{name}] on line [{}] has no source line",
                        number + 1
                    ));
                };
                let mut event =
                    make_event(&state.parsers.bulk, source, origin.clone(), tenant, None);
                event.set("bulk.index", index.clone());
                if let Some(id) = &given_id {
                    event.set("bulk.id", id.clone());
                }
                let id = given_id.unwrap_or_else(|| event.id.to_string());
                out.items.push(json!({ (name.as_str()): {
                    "_index": index,
                    "_id": id,
                    "_version": 1,
                    "result": "created",
                    "_shards": { "total": 1, "successful": 1, "failed": 0 },
                    "_seq_no": out.events.len(),
                    "_primary_term": 1,
                    "status": 201,
                }}));
                out.events.push(event);
            }
            "update" | "delete" => {
                if name == "update" && lines.next().is_none() {
                    return Err(format!(
                        "action [update] on line [{}] has no source line",
                        number + 1
                    ));
                }
                out.errors = true;
                out.items.push(json!({ (name.as_str()): {
                    "_index": index,
                    "_id": given_id,
                    "status": 400,
                    "error": {
                        "type": "illegal_argument_exception",
                        "reason": format!("rampart keeps events immutable: [{name}] is not supported"),
                    },
                }}));
            }
            other => {
                return Err(malformed(&format!(
                    "expected one of [create, delete, index, update] but found [{other}]"
                )));
            }
        }
    }
    Ok(out)
}
