//! `rampart intel …`: threat intel on a running server, over its API — import indicator
//! documents, list indicators and sightings, manage feeds and the allow-list.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs};
use crate::config::Config;

// Parsed once per run: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum IntelCommand {
    /// Import an indicator document (STIX bundle, MISP event, CSV, plain list); the new
    /// indicators are retro-hunted over the server's look-back at once.
    Import {
        file: PathBuf,
        /// Feed name the indicators are stored under (default: the file name).
        #[arg(long)]
        feed: Option<String>,
        /// stix, misp, csv or plain (default: from the extension, else guessed by the server).
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List stored indicators.
    List {
        /// ipv4, ipv6, cidr, domain, url, md5, sha1, sha256 or email.
        #[arg(long)]
        kind: Option<String>,
        /// Feed name.
        #[arg(long)]
        source: Option<String>,
        /// Text in the value.
        #[arg(long)]
        value: Option<String>,
        /// Only indicators that have not expired.
        #[arg(long)]
        live: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List feeds with their last poll and error, or add, remove or poll one.
    Feeds {
        #[command(subcommand)]
        action: Option<FeedsAction>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The allow-list: values that never raise a sighting.
    #[command(subcommand)]
    Allow(AllowAction),
    /// List sightings (indicators seen in events), newest first.
    Sightings {
        /// live or retro.
        #[arg(long)]
        kind: Option<String>,
        /// Feed of the indicator.
        #[arg(long)]
        source: Option<String>,
        /// Text in the indicator's or the event's value.
        #[arg(long)]
        value: Option<String>,
        /// Tenant (tokens not bound to one).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Indicators by kind, matcher, stream lag, sightings and feeds.
    Status {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum FeedsAction {
    /// Add (or replace) a feed. Credentials are named by environment variable on the
    /// server (`--password-env`), read at each poll.
    Add {
        name: String,
        /// file, url or taxii.
        #[arg(long)]
        kind: String,
        /// file feeds: the file (a directory for misp-feed) on the server.
        #[arg(long)]
        path: Option<PathBuf>,
        /// url feeds: the document; taxii: the discovery URL or an API root.
        #[arg(long)]
        url: Option<String>,
        /// file and url feeds: stix, misp, misp-feed, csv or plain.
        #[arg(long)]
        format: Option<String>,
        /// taxii feeds: the collection id or title.
        #[arg(long)]
        collection: Option<String>,
        /// How often it is polled (`1h`, `15m`).
        #[arg(long, default_value = "1h")]
        interval: String,
        /// Confidence (0-100) of indicators the feed states none for.
        #[arg(long)]
        confidence: Option<u8>,
        #[arg(long)]
        username: Option<String>,
        /// Environment variable (on the server) holding the user name.
        #[arg(long)]
        username_env: Option<String>,
        /// Environment variable (on the server) holding the password.
        #[arg(long)]
        password_env: Option<String>,
        /// Add it disabled (not polled).
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove a feed.
    Remove {
        name: String,
        /// Also delete its indicators.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Poll a feed now and retro-hunt its new indicators.
    Poll {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
pub enum AllowAction {
    /// Allow a value (an address, network, domain and its subdomains, URL, hash, e-mail).
    Add {
        value: String,
        /// The kind (guessed from the value when absent).
        #[arg(long)]
        kind: Option<String>,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the allow-list.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove an entry.
    Remove {
        kind: String,
        value: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// A path segment with everything but unreserved characters percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter());
    for r in rows {
        t.add_row(r);
    }
    println!("{t}");
}

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, v: &Option<String>) {
    if let Some(v) = v {
        query.push((key, v.clone()));
    }
}

/// The format to send for `file`: the one given, else from the extension (JSON documents
/// are told apart by the server).
fn import_format(file: &std::path::Path, given: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(f) = given {
        let f = f.to_ascii_lowercase().replace('_', "-");
        if f == "misp-feed" {
            anyhow::bail!(
                "a MISP feed is a directory: add it as a feed (rampart intel feeds add NAME --kind file --format misp-feed --path DIR)"
            );
        }
        return Ok(Some(f));
    }
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("csv") => Some("csv".into()),
        Some("txt" | "list") => Some("plain".into()),
        _ => None,
    })
}

fn print_outcome(o: &Value) {
    let i = &o["import"];
    let r = &o["retro"];
    println!(
        "feed {}: {} added, {} updated, {} unchanged, {} skipped",
        cell(&i["feed"]),
        cell(&i["added"]),
        cell(&i["updated"]),
        cell(&i["unchanged"]),
        cell(&i["skipped"]["count"])
    );
    if let Some(reasons) = i["skipped"]["reasons"].as_object() {
        for (why, n) in reasons {
            println!("  skipped {n}: {why}");
        }
    }
    println!(
        "retro-hunt: {} indicators, {} sightings ({} queries, {} events checked, {} ms){}",
        cell(&r["indicators"]),
        cell(&r["sightings"]),
        cell(&r["queries"]),
        cell(&r["events_checked"]),
        cell(&r["millis"]),
        r["error"]
            .as_str()
            .map(|e| format!(" — failed: {e}"))
            .unwrap_or_default()
    );
}

pub fn run(cfg: Config, cmd: IntelCommand) -> anyhow::Result<()> {
    match cmd {
        IntelCommand::Import {
            file,
            feed,
            format,
            server,
        } => {
            let client = Client::new(&cfg, &server)?;
            let format = import_format(&file, format.as_deref())?;
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let feed = feed.unwrap_or_else(|| {
                file.file_stem()
                    .and_then(|s| s.to_str())
                    .map(|s| {
                        s.chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                                    c
                                } else {
                                    '-'
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_else(|| "import".into())
            });
            let mut query = vec![("feed", feed)];
            push(&mut query, "format", &format);
            let outcome = client.post_bytes("/api/v1/intel/import", &query, body)?;
            print_outcome(&outcome);
        }
        IntelCommand::List {
            kind,
            source,
            value,
            live,
            limit,
            json,
            server,
        } => {
            let client = Client::new(&cfg, &server)?;
            let mut query = vec![("limit", limit.to_string())];
            push(&mut query, "kind", &kind);
            push(&mut query, "source", &source);
            push(&mut query, "value", &value);
            if live {
                query.push(("live", "true".into()));
            }
            let answer = client.get_json("/api/v1/intel/indicators", &query)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            let empty = Vec::new();
            let list = answer["indicators"].as_array().unwrap_or(&empty);
            table(
                &[
                    "kind",
                    "value",
                    "source",
                    "conf",
                    "last seen",
                    "until",
                    "refs",
                ],
                list.iter().map(|i| {
                    let refs: Vec<String> = i["references"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .filter_map(|r| r.as_object())
                        .flat_map(|o| o.values().map(cell))
                        .collect();
                    vec![
                        cell(&i["kind"]),
                        cell(&i["value"]),
                        cell(&i["source"]),
                        cell(&i["confidence"]),
                        cell(&i["last_seen"]),
                        cell(&i["valid_until"]),
                        refs.join(" "),
                    ]
                }),
            );
            eprintln!("{} indicators", list.len());
        }
        IntelCommand::Feeds {
            action,
            json,
            server,
        } => return run_feeds(&cfg, action, json, server),
        IntelCommand::Allow(action) => return run_allow(&cfg, action),
        IntelCommand::Sightings {
            kind,
            source,
            value,
            tenant,
            limit,
            json,
            server,
        } => {
            let client = Client::new(&cfg, &server)?;
            let mut query = vec![("limit", limit.to_string())];
            push(&mut query, "kind", &kind);
            push(&mut query, "source", &source);
            push(&mut query, "value", &value);
            push(&mut query, "tenant", &tenant);
            let answer = client.get_json("/api/v1/intel/sightings", &query)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            let empty = Vec::new();
            let list = answer["sightings"].as_array().unwrap_or(&empty);
            table(
                &[
                    "id",
                    "kind",
                    "event time",
                    "field",
                    "value",
                    "indicator",
                    "feed",
                    "conf",
                    "event id",
                ],
                list.iter().map(|s| {
                    vec![
                        cell(&s["id"]),
                        cell(&s["kind"]),
                        cell(&s["event_time"]),
                        cell(&s["field"]),
                        cell(&s["value"]),
                        format!(
                            "{} {}",
                            cell(&s["indicator"]["kind"]),
                            cell(&s["indicator"]["value"])
                        ),
                        cell(&s["indicator"]["source"]),
                        cell(&s["indicator"]["confidence"]),
                        cell(&s["event_id"]),
                    ]
                }),
            );
            eprintln!("{} sightings shown", list.len());
        }
        IntelCommand::Status { server } => {
            let client = Client::new(&cfg, &server)?;
            let answer = client.get_json("/api/v1/intel/status", &[])?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
    }
    Ok(())
}

fn run_feeds(
    cfg: &Config,
    action: Option<FeedsAction>,
    json: bool,
    server: ServerArgs,
) -> anyhow::Result<()> {
    match action {
        None => {
            let client = Client::new(cfg, &server)?;
            let answer = client.get_json("/api/v1/intel/feeds", &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            let empty = Vec::new();
            let feeds = answer["feeds"].as_array().unwrap_or(&empty);
            table(
                &[
                    "name",
                    "type",
                    "enabled",
                    "every (s)",
                    "indicators",
                    "last poll",
                    "last error",
                ],
                feeds.iter().map(|f| {
                    vec![
                        cell(&f["config"]["name"]),
                        cell(&f["config"]["source"]["type"]),
                        cell(&f["config"]["enabled"]),
                        cell(&f["config"]["interval_secs"]),
                        cell(&f["indicators"]),
                        cell(&f["last_poll"]),
                        cell(&f["last_error"]),
                    ]
                }),
            );
        }
        Some(FeedsAction::Add {
            name,
            kind,
            path,
            url,
            format,
            collection,
            interval,
            confidence,
            username,
            username_env,
            password_env,
            disabled,
            server,
        }) => {
            let client = Client::new(cfg, &server)?;
            let mut body = json!({
                "name": name, "kind": kind, "interval": interval, "enabled": !disabled,
            });
            let optional = [
                ("path", path.map(|p| json!(p))),
                ("url", url.map(|v| json!(v))),
                ("format", format.map(|v| json!(v))),
                ("collection", collection.map(|v| json!(v))),
                ("confidence", confidence.map(|v| json!(v))),
                ("username", username.map(|v| json!(v))),
                ("username_env", username_env.map(|v| json!(v))),
                ("password_env", password_env.map(|v| json!(v))),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let answer = client.post_json("/api/v1/intel/feeds", &body)?;
            println!(
                "feed {} saved; it is polled at the next tick",
                cell(&answer["feed"]["config"]["name"])
            );
        }
        Some(FeedsAction::Remove {
            name,
            purge,
            server,
        }) => {
            let client = Client::new(cfg, &server)?;
            let path = format!(
                "/api/v1/intel/feeds/{}{}",
                segment(&name),
                if purge { "?purge=true" } else { "" }
            );
            client.delete_json(&path)?;
            println!(
                "feed {name} removed{}",
                if purge { " with its indicators" } else { "" }
            );
        }
        Some(FeedsAction::Poll { name, server }) => {
            let client = Client::new(cfg, &server)?;
            let answer = client.post_json(
                &format!("/api/v1/intel/feeds/{}/poll", segment(&name)),
                &json!({}),
            )?;
            print_outcome(&answer);
        }
    }
    Ok(())
}

fn run_allow(cfg: &Config, action: AllowAction) -> anyhow::Result<()> {
    match action {
        AllowAction::Add {
            value,
            kind,
            reason,
            server,
        } => {
            let client = Client::new(cfg, &server)?;
            let answer = client.post_json(
                "/api/v1/intel/allowlist",
                &json!({ "value": value, "kind": kind, "reason": reason }),
            )?;
            println!(
                "allowed {} {}",
                cell(&answer["entry"]["kind"]),
                cell(&answer["entry"]["value"])
            );
        }
        AllowAction::List { json, server } => {
            let client = Client::new(cfg, &server)?;
            let answer = client.get_json("/api/v1/intel/allowlist", &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            let empty = Vec::new();
            table(
                &["kind", "value", "reason", "author", "added"],
                answer["entries"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|e| {
                        ["kind", "value", "reason", "author", "added"]
                            .iter()
                            .map(|k| cell(&e[*k]))
                            .collect()
                    }),
            );
        }
        AllowAction::Remove {
            kind,
            value,
            server,
        } => {
            let client = Client::new(cfg, &server)?;
            client.delete_json(&format!(
                "/api/v1/intel/allowlist/{}/{}",
                segment(&kind),
                segment(&value)
            ))?;
            println!("removed {kind} {value} from the allow-list");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_format_comes_from_the_flag_or_the_extension() {
        let cases: [(&str, Option<&str>, Option<&str>); 6] = [
            ("a.json", None, None),
            ("a.csv", None, Some("csv")),
            ("a.TXT", None, Some("plain")),
            ("a.json", Some("MISP"), Some("misp")),
            ("a", Some("misp_event"), Some("misp-event")),
            ("a.csv", Some("stix"), Some("stix")),
        ];
        for (file, given, want) in cases {
            let got = import_format(std::path::Path::new(file), given).expect("valid");
            assert_eq!(got.as_deref(), want, "{file} {given:?}");
        }
        assert!(import_format(std::path::Path::new("d"), Some("misp-feed")).is_err());
    }

    #[test]
    fn values_are_one_path_segment() {
        assert_eq!(segment("http://x/a b"), "http%3A%2F%2Fx%2Fa%20b");
        assert_eq!(segment("evil.example"), "evil.example");
    }
}
