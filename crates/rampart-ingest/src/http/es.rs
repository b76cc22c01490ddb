//! Elasticsearch discovery routes that shippers probe before sending `_bulk`: cluster
//! info, license, and template/ILM/pipeline/data-stream setup answered harmlessly.

use super::bulk::{PRODUCT_HEADER, es_json};
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use serde_json::{Value, json};

/// The Elasticsearch version Rampart presents itself as.
pub const ES_VERSION: &str = "8.11.0";

/// Routes that make Rampart look like an Elasticsearch 8 cluster to Filebeat, Logstash,
/// Vector and Fluent Bit: `GET|HEAD /`, `GET /_license`, `GET /_xpack`,
/// `GET /_cluster/health`, and `GET|HEAD|PUT|POST` on `/_index_template/{name}`,
/// `/_template/{name}`, `/_component_template/{name}`, `/_ilm/policy/{name}`,
/// `/_ingest/pipeline/{name}`, `/_data_stream/{name}`, `/_alias/{name}` (all 200; nothing is
/// stored). The root route clashes with a web console, so the server mounts it where it
/// wants (the same port as the bulk endpoint, in practice).
pub fn es_compat_router() -> Router {
    Router::new()
        .route("/", get(root).head(root_head))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_cluster/health", get(cluster_health))
        .route("/_index_template/{name}", setup(index_template))
        .route("/_template/{name}", setup(legacy_template))
        .route("/_component_template/{name}", setup(component_template))
        .route("/_ilm/policy/{name}", setup(ilm_policy))
        .route("/_ingest/pipeline/{name}", setup(pipeline))
        .route("/_data_stream/{name}", setup(data_stream))
        .route("/_alias/{name}", setup(alias))
}

fn root_body() -> Value {
    json!({
        "name": "rampart",
        "cluster_name": "rampart",
        "cluster_uuid": "rampart-000000000000000000",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "rampart",
            "build_hash": "rampart",
            "build_date": "2023-11-04T10:04:57.184859352Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

async fn root() -> Response {
    es_json(StatusCode::OK, root_body())
}

async fn root_head() -> Response {
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(PRODUCT_HEADER, HeaderValue::from_static("Elasticsearch"));
    resp
}

async fn license() -> Response {
    es_json(
        StatusCode::OK,
        json!({ "license": {
            "status": "active",
            "uid": "00000000-0000-0000-0000-000000000000",
            "type": "basic",
            "issue_date": "2024-01-01T00:00:00.000Z",
            "issue_date_in_millis": 1704067200000u64,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": "rampart",
            "issuer": "rampart",
            "start_date_in_millis": -1
        }}),
    )
}

async fn xpack() -> Response {
    es_json(
        StatusCode::OK,
        json!({
            "build": { "hash": "rampart", "date": "2023-11-04T10:04:57.184859352Z" },
            "license": { "uid": "00000000-0000-0000-0000-000000000000", "type": "basic", "mode": "basic", "status": "active" },
            "features": {
                "ilm": { "available": true, "enabled": true },
                "security": { "available": true, "enabled": true }
            },
            "tagline": "You know, for X"
        }),
    )
}

async fn cluster_health() -> Response {
    es_json(
        StatusCode::OK,
        json!({
            "cluster_name": "rampart",
            "status": "green",
            "timed_out": false,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 1,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "active_shards_percent_as_number": 100.0
        }),
    )
}

/// A setup resource: `GET` describes it, `HEAD` says it exists, `PUT`/`POST` acknowledge.
fn setup(describe: fn(&str) -> Value) -> MethodRouter {
    any(move |method: Method, Path(name): Path<String>| async move {
        match method {
            Method::GET => es_json(StatusCode::OK, describe(&name)),
            Method::HEAD => root_head().await,
            Method::PUT | Method::POST => es_json(StatusCode::OK, json!({ "acknowledged": true })),
            Method::DELETE => es_json(StatusCode::OK, json!({ "acknowledged": true })),
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        }
    })
}

fn index_template(name: &str) -> Value {
    json!({ "index_templates": [{
        "name": name,
        "index_template": { "index_patterns": [format!("{name}*")], "template": {}, "composed_of": [] }
    }]})
}

fn legacy_template(name: &str) -> Value {
    json!({ (name): { "order": 0, "index_patterns": [format!("{name}*")], "settings": {}, "mappings": {}, "aliases": {} } })
}

fn component_template(name: &str) -> Value {
    json!({ "component_templates": [{ "name": name, "component_template": { "template": {} } }] })
}

fn ilm_policy(name: &str) -> Value {
    json!({ (name): { "version": 1, "modified_date": "2024-01-01T00:00:00.000Z", "policy": { "phases": { "hot": { "min_age": "0ms", "actions": {} } } } } })
}

fn pipeline(name: &str) -> Value {
    json!({ (name): { "description": "accepted by rampart; not run", "processors": [] } })
}

fn data_stream(name: &str) -> Value {
    json!({ "data_streams": [{
        "name": name,
        "timestamp_field": { "name": "@timestamp" },
        "indices": [],
        "generation": 1,
        "status": "GREEN",
        "template": name
    }]})
}

fn alias(name: &str) -> Value {
    json!({ (name): { "aliases": { (name): {} } } })
}
