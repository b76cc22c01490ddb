//! `POST /api/v1/ingest/ndjson`: one record per line, Bearer token, answer after the sink acked.

use super::{
    BodyError, Credential, HttpIngestState, NDJSON_LISTENER, accept, blocking, credential,
    json_response,
};
use crate::make_event;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use rampart_model::{Event, OriginKind};
use serde_json::json;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": message.into() }))
}

pub(super) async fn handle(State(state): State<HttpIngestState>, req: Request) -> Response {
    let metrics = &state.ndjson_metrics;
    let tenant = match credential(req.headers(), &["Bearer"]) {
        Credential::Token(t) => match state.tokens.verify(&t) {
            Some(entry) => entry.tenant.clone(),
            None => {
                metrics.rejected(1);
                return error(StatusCode::FORBIDDEN, "invalid ingest token");
            }
        },
        Credential::Missing | Credential::Malformed => {
            metrics.rejected(1);
            return error(
                StatusCode::UNAUTHORIZED,
                "missing ingest token: send 'Authorization: Bearer <token>'",
            );
        }
    };
    let (origin, encoding, body) = match super::take_body(
        &state,
        req,
        OriginKind::HttpNdjson,
        NDJSON_LISTENER,
        metrics,
    )
    .await
    {
        Ok(taken) => taken,
        Err(e) => return body_error(&state, e),
    };
    let parsers = state.parsers.clone();
    let max_decoded = state.max_decoded_bytes;
    let parsed = blocking(move || -> Result<Vec<Event>, BodyError> {
        let body = super::decode_body(encoding.as_deref(), body, max_decoded)?;
        Ok(body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| make_event(&parsers.ndjson, line, origin.clone(), &tenant, None))
            .collect())
    })
    .await;
    let events = match parsed {
        Ok(Ok(events)) => events,
        Ok(Err(e)) => return body_error(&state, e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let accepted = events.len();
    let parse_errors = events.iter().filter(|e| e.parse_error.is_some()).count();
    match accept(&state, metrics, events).await {
        Ok(()) => json_response(
            StatusCode::OK,
            &json!({ "accepted": accepted, "parse_errors": parse_errors }),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn body_error(state: &HttpIngestState, e: BodyError) -> Response {
    state.ndjson_metrics.rejected(1);
    error(e.status(), e.message())
}
