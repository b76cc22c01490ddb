//! Threat-intel handlers under `/api/v1/intel` (indicators, imports, feeds, allow-list,
//! sightings, status) and the sink that turns intel sightings into triage signals.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::auth::{Permission, Principal};
use crate::{ApiError, AppState, StatusSection, audit_change};
use rampart_intel::{
    AllowEntry, FeedEntry, FeedFormat, IndicatorFilter, IndicatorKind, IntelError, IntelService,
    IntelSighting, SightingFilter, SightingKind, SightingSink,
};
use rampart_model::Timestamp;
use rampart_triage::{Level, Signal, SignalSource, Triage};

/// Largest document `POST /api/v1/intel/import` accepts.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// The intel routes (the authentication layer is added by [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/intel/indicators", get(indicators))
        .route(
            "/api/v1/intel/import",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/intel/feeds", get(feeds).post(add_feed))
        .route("/api/v1/intel/feeds/{name}", delete(remove_feed))
        .route("/api/v1/intel/feeds/{name}/poll", post(poll_feed))
        .route("/api/v1/intel/allowlist", get(allowlist).post(allow))
        .route("/api/v1/intel/allowlist/{kind}/{value}", delete(unallow))
        .route("/api/v1/intel/sightings", get(sightings))
        .route("/api/v1/intel/status", get(status))
}

fn service(state: &AppState) -> Result<Arc<IntelService>, ApiError> {
    state.intel.clone().ok_or_else(|| {
        ApiError::Unavailable("threat intel is not enabled on this server ([intel] enabled)".into())
    })
}

/// How an intel error is answered: the caller's mistakes are 400/404, the rest 500.
pub fn api_error(e: IntelError) -> ApiError {
    match e {
        IntelError::UnknownFeed(name) => ApiError::NotFoundWhat(format!("unknown feed '{name}'")),
        e @ (IntelError::Invalid { .. }
        | IntelError::Format { .. }
        | IntelError::Json { .. }
        | IntelError::TooLarge { .. }) => ApiError::BadRequest(e.to_string()),
        IntelError::Store(e) => e.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("intel task failed: {e}")))?
}

fn nonempty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn kind_param(text: &str) -> Result<IndicatorKind, ApiError> {
    text.parse::<IndicatorKind>().map_err(|_| {
        ApiError::BadRequest(format!(
            "unknown indicator kind '{text}', expected ipv4, ipv6, cidr, domain, url, md5, sha1, sha256 or email"
        ))
    })
}

/// Filters of `GET /api/v1/intel/indicators`.
#[derive(Debug, Default, Deserialize)]
pub struct IndicatorParams {
    pub kind: Option<String>,
    /// Feed name.
    pub source: Option<String>,
    /// Text in the value.
    pub value: Option<String>,
    /// `true`: only indicators that have not expired.
    pub live: Option<bool>,
    /// Most returned (default 1000, at most 100,000).
    pub limit: Option<usize>,
}

async fn indicators(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(p): Query<IndicatorParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelRead)?;
    let svc = service(&state)?;
    let filter = IndicatorFilter {
        kind: nonempty(p.kind.as_deref())
            .map(|k| kind_param(&k))
            .transpose()?,
        source: nonempty(p.source.as_deref()),
        value_contains: nonempty(p.value.as_deref()),
        live_at: p.live.unwrap_or(false).then(Timestamp::now),
        limit: p.limit.unwrap_or(1000).clamp(1, 100_000),
    };
    let list = blocking(move || svc.indicators(&filter).map_err(api_error)).await?;
    Ok(Json(json!({ "count": list.len(), "indicators": list })))
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportParams {
    /// The feed name the indicators are stored under (default `import`).
    pub feed: Option<String>,
    /// `stix`, `misp`, `csv` or `plain`; guessed from the document when absent.
    pub format: Option<String>,
}

/// The format of an import document when the caller did not say: STIX bundles and MISP
/// events are JSON objects, CSV has a header naming a `value` column, else a plain list.
pub fn guess_format(body: &[u8]) -> FeedFormat {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let t = head.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if t.contains("\"Event\"") || t.contains("\"response\"") {
            FeedFormat::MispEvent
        } else {
            FeedFormat::Stix
        }
    } else {
        let first = t.lines().next().unwrap_or("").to_ascii_lowercase();
        if first.contains(',')
            && first
                .split(',')
                .any(|c| c.trim().trim_matches('"') == "value")
        {
            FeedFormat::Csv
        } else {
            FeedFormat::Plain
        }
    }
}

async fn import(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(p): Query<ImportParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("empty import document".into()));
    }
    let feed = nonempty(p.feed.as_deref()).unwrap_or_else(|| "import".into());
    let format = match nonempty(p.format.as_deref()) {
        Some(f) => f.parse::<FeedFormat>().map_err(ApiError::BadRequest)?,
        None => guess_format(&body),
    };
    let f = feed.clone();
    let outcome = blocking(move || svc.import(&f, format, &body).map_err(api_error)).await?;
    audit_change(
        &state,
        &principal,
        "intel.import",
        &feed,
        format!(
            "{}: {} added, {} updated, {} skipped; {} retro sightings",
            format.as_str(),
            outcome.import.added,
            outcome.import.updated,
            outcome.import.skipped.count,
            outcome.retro.sightings
        ),
    );
    Ok(Json(json!(outcome)))
}

async fn feeds(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelRead)?;
    let svc = service(&state)?;
    let feeds = blocking(move || svc.feeds().map_err(api_error)).await?;
    Ok(Json(json!({ "feeds": feeds })))
}

async fn add_feed(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    let entry: FeedEntry = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid feed: {e}")))?;
    let name = entry.name.clone();
    let status = blocking(move || svc.add_feed(&entry).map_err(api_error)).await?;
    audit_change(
        &state,
        &principal,
        "intel.feed.add",
        &name,
        serde_json::to_string(&status.config).unwrap_or_default(),
    );
    Ok(Json(json!({ "feed": status })))
}

#[derive(Debug, Default, Deserialize)]
struct RemoveParams {
    /// Also delete the feed's indicators.
    purge: Option<bool>,
}

async fn remove_feed(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Query(p): Query<RemoveParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    let purge = p.purge.unwrap_or(false);
    let n = name.clone();
    if !blocking(move || svc.remove_feed(&n, purge).map_err(api_error)).await? {
        return Err(ApiError::NotFoundWhat(format!("unknown feed '{name}'")));
    }
    audit_change(
        &state,
        &principal,
        "intel.feed.remove",
        &name,
        format!("purge={purge}"),
    );
    Ok(Json(json!({ "removed": name, "purged": purge })))
}

async fn poll_feed(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    let n = name.clone();
    let outcome = blocking(move || {
        svc.poll_feed(&n).map_err(|e| match e {
            IntelError::UnknownFeed(_) => api_error(e),
            // The feed failed, not the request: the error is also kept on the feed.
            other => ApiError::Unavailable(format!("polling feed '{n}' failed: {other}")),
        })
    })
    .await?;
    audit_change(
        &state,
        &principal,
        "intel.feed.poll",
        &name,
        format!(
            "{} added, {} updated; {} retro sightings",
            outcome.import.added, outcome.import.updated, outcome.retro.sightings
        ),
    );
    Ok(Json(json!(outcome)))
}

async fn allowlist(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelRead)?;
    let svc = service(&state)?;
    let entries = blocking(move || svc.allow_entries().map_err(api_error)).await?;
    Ok(Json(json!({ "entries": entries })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowBody {
    value: String,
    /// Guessed from the value when absent.
    kind: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn allow(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    let b: AllowBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid body, expected {{\"value\": …, \"kind\": …, \"reason\": …}}: {e}"
        ))
    })?;
    let now = Timestamp::now();
    let entry = match nonempty(b.kind.as_deref()) {
        Some(k) => AllowEntry::new(kind_param(&k)?, &b.value, &b.reason, &principal.name, now),
        None => AllowEntry::guessed(&b.value, &b.reason, &principal.name, now),
    }
    .map_err(|reason| ApiError::BadRequest(format!("invalid value '{}': {reason}", b.value)))?;
    let e = entry.clone();
    blocking(move || svc.allow(&e).map_err(api_error)).await?;
    audit_change(
        &state,
        &principal,
        "intel.allow.add",
        &format!("{}/{}", entry.kind.as_str(), entry.value),
        entry.reason.clone(),
    );
    Ok(Json(json!({ "entry": entry })))
}

async fn unallow(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((kind, value)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelAdmin)?;
    let svc = service(&state)?;
    let k = kind_param(&kind)?;
    let v = value.clone();
    if !blocking(move || svc.remove_allow(k, &v).map_err(api_error)).await? {
        return Err(ApiError::NotFoundWhat(format!(
            "no allow-list entry {kind}/{value}"
        )));
    }
    let target = format!("{kind}/{value}");
    audit_change(
        &state,
        &principal,
        "intel.allow.remove",
        &target,
        String::new(),
    );
    Ok(Json(json!({ "removed": { "kind": k, "value": value } })))
}

/// Filters of `GET /api/v1/intel/sightings`.
#[derive(Debug, Default, Deserialize)]
pub struct SightingParams {
    /// `live` or `retro`.
    pub kind: Option<String>,
    /// Feed of the indicator.
    pub source: Option<String>,
    /// Text in the indicator's or the event's value.
    pub value: Option<String>,
    /// Event id.
    pub event: Option<String>,
    /// Tenant, for tokens not bound to one.
    pub tenant: Option<String>,
    /// Only sightings with a smaller id (the last id of the previous page).
    pub before: Option<i64>,
    /// Most returned (default 100, at most 10,000).
    pub limit: Option<usize>,
}

async fn sightings(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(p): Query<SightingParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelRead)?;
    let svc = service(&state)?;
    let filter = SightingFilter {
        kind: match nonempty(p.kind.as_deref()) {
            None => None,
            Some(k) => Some(SightingKind::parse(&k).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown sighting kind '{k}', expected live or retro"
                ))
            })?),
        },
        tenant: principal.tenant_scope(nonempty(p.tenant.as_deref()))?,
        source: nonempty(p.source.as_deref()),
        value_contains: nonempty(p.value.as_deref()),
        event_id: match nonempty(p.event.as_deref()) {
            None => None,
            Some(e) => Some(
                e.parse()
                    .map_err(|_| ApiError::BadRequest(format!("invalid event id '{e}'")))?,
            ),
        },
        before_id: p.before,
        limit: p.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let list = blocking(move || svc.sightings(&filter).map_err(api_error)).await?;
    let next_before = list.last().map(|s| s.id);
    Ok(Json(
        json!({ "count": list.len(), "sightings": list, "next_before": next_before }),
    ))
}

async fn status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Permission::IntelRead)?;
    let svc = service(&state)?;
    let status = blocking(move || Ok(svc.status())).await?;
    Ok(Json(json!(status)))
}

/// The `intel` section of `/api/v1/status`.
pub fn status_section(svc: Arc<IntelService>) -> (String, StatusSection) {
    let section: StatusSection = Arc::new(move || {
        serde_json::to_value(svc.status()).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    });
    ("intel".to_owned(), section)
}

/// The alert level of a sighting: confidence 80 and up is high, 50 and up medium, else low.
pub fn level_for(confidence: u8) -> Level {
    match confidence {
        80.. => Level::High,
        50..=79 => Level::Medium,
        _ => Level::Low,
    }
}

/// The triage signal of a sighting: rule `intel.<kind>`, level from the confidence,
/// ATT&CK tags from the indicator's references, entities from the event when at hand.
pub fn signal_for(s: &IntelSighting) -> Signal {
    let ind = &s.indicator;
    let kind = ind.kind.as_str();
    let title = format!("Threat intel: known-bad {kind} seen");
    let level = level_for(ind.confidence);
    let rule_id = format!("intel.{kind}");
    let mut signal = match &s.event {
        Some(event) => Signal::for_event(SignalSource::Intel, rule_id, title, level, event, &[]),
        None => {
            let mut sig = Signal::new(SignalSource::Intel, rule_id, title, level, s.event_time)
                .with_tenant(s.tenant.clone());
            sig.event_ids.push(s.event_id);
            sig
        }
    };
    // One alert per indicator, host and addresses: the account or process an event
    // carried stays in the linked events, but is not part of what makes a repeat the same
    // alert (with it, one scanner hitting one host made an alert per username it tried).
    if !s.field.starts_with("user.") {
        signal.entities.user = None;
    }
    if !s.field.starts_with("process.") {
        signal.entities.process = None;
    }
    signal.summary = format!(
        "{} = {} matches {kind} indicator {} from {} (confidence {}, {})",
        s.field,
        s.value,
        ind.value,
        ind.source,
        ind.confidence,
        s.kind.as_str()
    );
    let fields = &mut signal.fields;
    fields.insert(s.field.clone(), json!(s.value));
    fields.insert("intel.indicator".into(), json!(ind.value));
    fields.insert("intel.kind".into(), json!(kind));
    fields.insert("intel.feed".into(), json!(ind.source));
    fields.insert("intel.confidence".into(), json!(ind.confidence));
    fields.insert("intel.sighting".into(), json!(s.kind.as_str()));
    if !ind.tags.is_empty() {
        fields.insert("intel.tags".into(), json!(ind.tags));
    }
    signal.with_tags(
        s.attack_techniques()
            .map(|t| format!("attack.{}", t.to_ascii_lowercase())),
    )
}

/// The sink the server gives the intel service: every new sighting becomes a triage
/// signal when triage runs; without it sightings are only recorded.
pub fn triage_sink(triage: Option<Arc<Triage>>) -> SightingSink {
    Arc::new(move |sightings: Vec<IntelSighting>| {
        let Some(triage) = &triage else {
            return;
        };
        let signals: Vec<Signal> = sightings.iter().map(signal_for).collect();
        if let Err(e) = triage.process(signals) {
            tracing::error!(error = %e, count = sightings.len(), "triage of intel sightings failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_intel::{Reference, SightingIndicator};

    fn sighting(confidence: u8, refs: Vec<Reference>) -> IntelSighting {
        IntelSighting {
            id: 1,
            kind: SightingKind::Retro,
            indicator: SightingIndicator {
                kind: IndicatorKind::Domain,
                value: "evil.example".into(),
                source: "feed-a".into(),
                confidence,
                tags: vec!["c2".into()],
                references: refs,
            },
            event_id: rampart_model::EventId::new(),
            tenant: "acme".into(),
            event_time: Timestamp::from_secs(1_700_000_000),
            field: "dns.question.name".into(),
            value: "a.evil.example".into(),
            recorded: Timestamp::from_secs(1_700_000_100),
            event: None,
        }
    }

    #[test]
    fn an_intel_alert_is_one_per_indicator_and_host_not_per_account_tried() {
        let event = |user: &str| {
            let mut e = rampart_model::Event::new(
                rampart_model::Origin::new(rampart_model::OriginKind::SyslogTcp, "t"),
                rampart_model::Raw::Text("sshd line".into()),
            );
            for (path, value) in [
                ("host.name", "bastion01"),
                ("user.name", user),
                ("source.ip", "203.0.113.45"),
                ("process.name", "sshd"),
            ] {
                e.set(path, value);
            }
            Arc::new(e)
        };
        let mut a = sighting(90, vec![]);
        a.indicator.kind = IndicatorKind::Ipv4;
        a.field = "source.ip".into();
        a.event = Some(event("root"));
        let mut b = a.clone();
        b.event = Some(event("oracle"));
        let (sa, sb) = (signal_for(&a), signal_for(&b));
        assert_eq!(sa.entities, sb.entities);
        assert_eq!(sa.entities.host.as_deref(), Some("bastion01"));
        assert_eq!(sa.entities.source_ip.as_deref(), Some("203.0.113.45"));
        assert_eq!(
            (sa.entities.user.as_deref(), sa.entities.process.as_deref()),
            (None, None)
        );
        // An indicator found in the account field keeps the account.
        let mut c = a.clone();
        c.field = "user.name".into();
        assert_eq!(signal_for(&c).entities.user.as_deref(), Some("root"));
    }

    #[test]
    fn confidence_gives_the_level() {
        for (c, level) in [
            (100, Level::High),
            (80, Level::High),
            (79, Level::Medium),
            (50, Level::Medium),
            (49, Level::Low),
            (0, Level::Low),
        ] {
            assert_eq!(level_for(c), level, "{c}");
        }
    }

    #[test]
    fn sightings_become_intel_signals() {
        let s = sighting(
            85,
            vec![
                Reference::Attack("T1071.004".into()),
                Reference::Malware("Emotet".into()),
            ],
        );
        let sig = signal_for(&s);
        assert_eq!(sig.source, SignalSource::Intel);
        assert_eq!(sig.rule_id, "intel.domain");
        assert_eq!(sig.level, Level::High);
        assert_eq!(sig.tags, vec!["attack.t1071.004".to_string()]);
        assert_eq!(sig.tenant, "acme");
        assert_eq!(sig.event_ids, vec![s.event_id]);
        assert_eq!(sig.time, s.event_time);
        assert_eq!(sig.fields["intel.indicator"], json!("evil.example"));
        assert_eq!(sig.fields["dns.question.name"], json!("a.evil.example"));
        assert!(sig.summary.contains("feed-a"), "{}", sig.summary);
    }

    #[test]
    fn import_format_is_guessed_from_the_document() {
        for (doc, format) in [
            (
                &b"{\"type\": \"bundle\", \"objects\": []}"[..],
                FeedFormat::Stix,
            ),
            (b"  {\"Event\": {\"Attribute\": []}}", FeedFormat::MispEvent),
            (b"type,value\nip,192.0.2.1\n", FeedFormat::Csv),
            (b"# list\n192.0.2.1\nevil.example\n", FeedFormat::Plain),
        ] {
            assert_eq!(
                guess_format(doc),
                format,
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }
}
