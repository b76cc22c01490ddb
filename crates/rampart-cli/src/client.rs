//! `rampart search` and `rampart status`: talk to a running server over its API, or with
//! `--offline` open the data directory's store directly (when no server holds it).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::output::{OutputFormat, print_response};

#[derive(Args)]
pub struct ServerArgs {
    /// Server URL; default from the configuration's `http.bind`.
    #[arg(long, env = "RAMPART_SERVER")]
    pub server: Option<String>,
    /// API token; default `RAMPART_TOKEN` or `<data_dir>/admin.token`.
    #[arg(long, env = "RAMPART_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate to trust for HTTPS; default `<data_dir>/tls/server.crt`.
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

#[derive(Args)]
pub struct SearchArgs {
    /// The query: filters then pipes, e.g. `host.name:web01 AND event.outcome:failure | stats count() by source.ip`.
    pub query: String,
    /// Start of the time range: RFC 3339 or relative (`-24h`, `-7d`); `*` for all time.
    #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
    pub from: String,
    /// End of the time range (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Tenant to search (tokens not bound to one tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Open the data directory directly instead of asking a server.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Print every figure as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// An API client: base URL, token and (for HTTPS) the trusted certificate.
pub(crate) struct Client {
    agent: ureq::Agent,
    pub(crate) base: String,
    token: String,
}

impl Client {
    pub(crate) fn new(cfg: &Config, args: &ServerArgs) -> anyhow::Result<Client> {
        let scheme = if cfg.http.tls { "https" } else { "http" };
        let base = match &args.server {
            Some(s) => s.trim_end_matches('/').to_owned(),
            None => {
                let mut addr = cfg.http.bind;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("{scheme}://{addr}")
            }
        };
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let path = cfg.data_dir.join("admin.token");
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!("no --token given and cannot read {}", path.display())
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let mut builder = ureq::Agent::config_builder().http_status_as_error(false);
        if base.starts_with("https://") {
            let ca = args
                .ca
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("tls").join("server.crt"));
            if ca.exists() {
                let pem =
                    std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
                let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                builder = builder.tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
                        .build(),
                );
            }
        }
        Ok(Client {
            agent: builder.build().into(),
            base,
            token,
        })
    }

    pub(crate) fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let mut req = self
            .agent
            .get(format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        let resp = req
            .call()
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        Self::answer(path, resp)
    }

    /// POST `body` as JSON to `path`; the answer's JSON, or the server's error.
    pub(crate) fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let req = self.agent.post(format!("{}{}", self.base, path));
        self.send_json(req, path, body)
    }

    /// PUT `body` as JSON to `path`; the answer's JSON, or the server's error.
    pub(crate) fn put_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let req = self.agent.put(format!("{}{}", self.base, path));
        self.send_json(req, path, body)
    }

    fn send_json(
        &self,
        req: ureq::RequestBuilder<ureq::typestate::WithBody>,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let resp = req
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(body)
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        Self::answer(path, resp)
    }

    /// POST raw `body` (a document) to `path` with `query`; the answer's JSON, or the
    /// server's error.
    pub(crate) fn post_bytes(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut req = self
            .agent
            .post(format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        let resp = req
            .send(body)
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        Self::answer(path, resp)
    }

    /// DELETE `path`; the answer's JSON, or the server's error.
    pub(crate) fn delete_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let resp = self
            .agent
            .delete(format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        Self::answer(path, resp)
    }

    fn answer(
        path: &str,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> anyhow::Result<serde_json::Value> {
        let status = resp.status();
        let body: serde_json::Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("reading the answer of {path}"))?;
        if !status.is_success() {
            let detail = body
                .get("detail")
                .or_else(|| body.get("error"))
                .and_then(|v| v.as_str())
                .unwrap_or("no detail");
            anyhow::bail!("server answered {status}:\n{detail}");
        }
        Ok(body)
    }
}

pub fn search(cfg: Config, args: SearchArgs) -> anyhow::Result<()> {
    let response: rampart_store::SearchResponse = if args.offline {
        search_offline(&cfg, &args)?
    } else {
        let client = Client::new(&cfg, &args.server)?;
        let mut query = vec![
            ("q", args.query.clone()),
            ("from", args.from.clone()),
            ("limit", args.limit.to_string()),
        ];
        if let Some(to) = &args.to {
            query.push(("to", to.clone()));
        }
        if let Some(t) = &args.tenant {
            query.push(("tenant", t.clone()));
        }
        let body = client.get_json("/api/v1/search", &query)?;
        decode_response(body)?
    };
    print_response(&response, args.output)
}

/// The API's search answer as the store's type (which is only serialisable).
fn decode_response(body: serde_json::Value) -> anyhow::Result<rampart_store::SearchResponse> {
    #[derive(serde::Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Wire {
        Events {
            total: u64,
            events: Vec<rampart_model::Event>,
        },
        Table {
            columns: Vec<String>,
            rows: Vec<Vec<serde_json::Value>>,
        },
    }
    #[derive(serde::Deserialize)]
    struct WireResponse {
        took_ms: f64,
        result: Wire,
    }
    let wire: WireResponse = serde_json::from_value(body).context("decoding the search answer")?;
    Ok(rampart_store::SearchResponse {
        took_ms: wire.took_ms,
        result: match wire.result {
            Wire::Events { total, events } => rampart_store::SearchResult::Events { total, events },
            Wire::Table { columns, rows } => rampart_store::SearchResult::Table { columns, rows },
        },
    })
}

fn search_offline(
    cfg: &Config,
    args: &SearchArgs,
) -> anyhow::Result<rampart_store::SearchResponse> {
    use rampart_store::EventStore;
    let params = rampart_server::api::SearchParams {
        q: args.query.clone(),
        from: Some(args.from.clone()),
        to: args.to.clone(),
        limit: Some(args.limit),
        tenant: None,
        format: None,
    };
    let request =
        rampart_server::api::build_request(&params, args.tenant.clone()).map_err(|e| match e {
            rampart_server::ApiError::Query { rendered, .. } => anyhow::anyhow!("{rendered}"),
            other => anyhow::anyhow!("{other}"),
        })?;
    let store = rampart_store::EmbeddedStore::open(
        &cfg.data_dir.join("store"),
        cfg.store_config()?,
    )
    .context(
        "opening the store (is a server running on this data directory? then drop --offline)",
    )?;
    let response = store.search(&request)?;
    store.close()?;
    Ok(response)
}

pub fn status(cfg: Config, args: StatusArgs) -> anyhow::Result<()> {
    let client = Client::new(&cfg, &args.server)?;
    let body = client.get_json("/api/v1/status", &[])?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let num = |path: &str| -> String {
        let mut v = &body;
        for part in path.split('.') {
            v = &v[part];
        }
        match v {
            serde_json::Value::Null => "-".into(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let mib = |path: &str| -> String {
        let mut v = &body;
        for part in path.split('.') {
            v = &v[part];
        }
        v.as_u64()
            .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "rampart {} up {}s at {}",
        num("version"),
        num("uptime_secs"),
        client.base
    );
    println!(
        "ingest   events in {}   parse errors {}   bytes in {}   rejected {}   udp dropped {}   overloaded {}",
        num("ingest.events_in"),
        num("ingest.parse_errors"),
        num("ingest.bytes_in"),
        num("ingest.rejected"),
        num("ingest.udp_dropped"),
        num("ingest.overloaded")
    );
    if let Some(listeners) = body["ingest"]["listeners"].as_object() {
        for (name, l) in listeners {
            println!(
                "  {name:<14} events {:<10} errors {:<8} connections open {}",
                l["events_in"], l["parse_errors"], l["connections_open"]
            );
        }
    }
    println!(
        "store    events {}   not yet searchable {} ({} queued for the indexer)   WAL {} in {} segments   index {}",
        num("store.docs"),
        num("store.indexing_lag_events"),
        num("store.index_queue_events"),
        mib("store.wal_bytes"),
        num("store.wal_segments"),
        mib("store.index_bytes")
    );
    println!(
        "         oldest {}   newest {}   retention deleted {}",
        num("store.oldest_event"),
        num("store.newest_event"),
        num("store.retention_deleted_events")
    );
    println!(
        "process  rss {}   peak {}",
        mib("process.rss_bytes"),
        mib("process.peak_rss_bytes")
    );
    Ok(())
}
