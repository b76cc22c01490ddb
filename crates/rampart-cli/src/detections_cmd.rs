//! `rampart detections` and `rampart rules enable|disable|reload`: live detection on a running server, over its API.

use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs};
use crate::config::Config;
use crate::output::OutputFormat;

#[derive(Args)]
pub struct DetectionsArgs {
    /// Only this rule (its id).
    #[arg(long)]
    pub rule: Option<String>,
    /// Only this kind: rule (one event matched a Sigma rule), correlation or baseline.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this level or above: informational, low, medium, high, critical.
    #[arg(long)]
    pub level: Option<String>,
    /// Only this host name (case-insensitive).
    #[arg(long)]
    pub host: Option<String>,
    /// Only this user name (case-insensitive).
    #[arg(long)]
    pub user: Option<String>,
    /// Start of the event-time range: RFC 3339 or relative (`-24h`, `-7d`). Default: all time.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the event-time range (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Text in the rule title or the event's key fields.
    #[arg(long)]
    pub text: Option<String>,
    /// Most detections shown (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Tenant (tokens not bound to one).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print the number of detections per rule and per level instead of the list.
    #[arg(long)]
    pub counts: bool,
    #[arg(
        long,
        short = 'o',
        alias = "output",
        value_enum,
        default_value = "table"
    )]
    pub format: OutputFormat,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `rampart rules …`: the file commands plus the live ones on a running server.
#[derive(Subcommand)]
pub enum RulesCommand {
    #[command(flatten)]
    Files(crate::rules_cmd::RulesCommand),
    /// Enable a rule (by id) on the running server, at once.
    Enable {
        id: String,
        /// Why (kept with the rule state and in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable a rule (by id) on the running server, at once.
    Disable {
        id: String,
        /// Why (kept with the rule state and in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Reload the server's rule directories now (they are also watched).
    Reload {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
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

pub fn run_rules(cfg: Config, cmd: RulesCommand) -> anyhow::Result<()> {
    let (path, body, server) = match cmd {
        RulesCommand::Files(cmd) => return crate::rules_cmd::run(cmd),
        RulesCommand::Enable { id, reason, server } => (
            format!("/api/v1/rules/{}/enable", path_segment(&id)),
            json!({ "reason": reason }),
            server,
        ),
        RulesCommand::Disable { id, reason, server } => (
            format!("/api/v1/rules/{}/disable", path_segment(&id)),
            json!({ "reason": reason }),
            server,
        ),
        RulesCommand::Reload { server } => ("/api/v1/rules/reload".to_owned(), json!({}), server),
    };
    let client = Client::new(&cfg, &server)?;
    let answer = client.post_json(&path, &body)?;
    if let Some(report) = answer.get("report") {
        println!(
            "{} rules loaded, {} failed ({} ms)",
            report["rules_loaded"], report["rules_failed"], report["took_ms"]
        );
    } else if let Some(state) = answer.get("state") {
        let on = state["enabled"].as_bool().unwrap_or(false);
        println!(
            "rule {} {} by {}",
            state["rule_id"].as_str().unwrap_or("?"),
            if on { "enabled" } else { "disabled" },
            state["actor"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// Table and CSV columns: (header, field of the API's detection object).
const COLUMNS: &[(&str, &str)] = &[
    ("id", "id"),
    ("event time", "event_time"),
    ("level", "level"),
    ("rule", "rule_title"),
    ("host", "host"),
    ("user", "user"),
    ("process", "process_name"),
    ("command line", "command_line"),
    ("event id", "event_id"),
    // Added with correlations and baselines: after the original columns, so that scripts
    // reading the CSV by position keep working.
    ("kind", "kind"),
    ("source ip", "source_ip"),
    ("value", "value"),
];

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn run(cfg: Config, args: DetectionsArgs) -> anyhow::Result<()> {
    let client = Client::new(&cfg, &args.server)?;
    let mut query: Vec<(&str, String)> = Vec::new();
    let opt = [
        ("rule", &args.rule),
        ("kind", &args.kind),
        ("level", &args.level),
        ("host", &args.host),
        ("user", &args.user),
        ("from", &args.from),
        ("to", &args.to),
        ("q", &args.text),
        ("tenant", &args.tenant),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    if args.counts {
        let counts = client.get_json("/api/v1/detections/counts", &query)?;
        return print_counts(&counts, args.format);
    }
    // Pages of at most 10,000 (the API's limit) until `--limit` is reached.
    let mut detections: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let total = loop {
        let mut q = query.clone();
        q.push((
            "limit",
            (args.limit - detections.len()).min(10_000).to_string(),
        ));
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page = client.get_json("/api/v1/detections", &q)?;
        if let Some(items) = page["detections"].as_array() {
            detections.extend(items.iter().cloned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || detections.len() >= args.limit {
            break page["total"].as_u64().unwrap_or(0);
        }
    };
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"total": total, "detections": detections}))?
        ),
        OutputFormat::Jsonl => {
            for d in &detections {
                println!("{d}");
            }
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            rampart_server::api::write_csv_row(
                &mut out,
                COLUMNS.iter().map(|(h, _)| Value::String((*h).to_owned())),
            );
            for d in &detections {
                rampart_server::api::write_csv_row(
                    &mut out,
                    COLUMNS.iter().map(|(_, f)| d[*f].clone()),
                );
            }
            print!("{out}");
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(COLUMNS.iter().map(|(h, _)| *h));
            for d in &detections {
                table.add_row(COLUMNS.iter().map(|(_, f)| {
                    let text = cell(&d[*f]);
                    if text.chars().count() > 120 {
                        format!("{}…", text.chars().take(120).collect::<String>())
                    } else {
                        text
                    }
                }));
            }
            println!("{table}");
            eprintln!("{total} detections matched, {} shown", detections.len());
        }
    }
    Ok(())
}

fn print_counts(counts: &Value, format: OutputFormat) -> anyhow::Result<()> {
    let empty = Vec::new();
    let by_rule = counts["by_rule"].as_array().unwrap_or(&empty);
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(counts)?),
        OutputFormat::Jsonl => {
            for r in by_rule {
                println!("{r}");
            }
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            let fields = ["rule_id", "rule_title", "level", "count"];
            rampart_server::api::write_csv_row(
                &mut out,
                fields.iter().map(|f| Value::String((*f).to_owned())),
            );
            for r in by_rule {
                rampart_server::api::write_csv_row(&mut out, fields.iter().map(|f| r[*f].clone()));
            }
            print!("{out}");
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["count", "level", "rule", "rule id"]);
            for r in by_rule {
                table.add_row([
                    cell(&r["count"]),
                    cell(&r["level"]),
                    cell(&r["rule_title"]),
                    cell(&r["rule_id"]),
                ]);
            }
            println!("{table}");
            let levels: Vec<String> = counts["by_level"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|l| format!("{} {}", cell(&l["level"]), cell(&l["count"])))
                .collect();
            eprintln!(
                "{} detections: {}",
                cell(&counts["total"]),
                levels.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_encoded_as_one_path_segment() {
        for (id, expected) in [
            ("5f1c-AB_9.x~", "5f1c-AB_9.x~"),
            ("a b/c", "a%20b%2Fc"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(path_segment(id), expected, "{id}");
        }
    }
}
