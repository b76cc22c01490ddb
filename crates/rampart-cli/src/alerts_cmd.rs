//! `rampart alerts`, `rampart suppress` and `rampart risk`: alert triage on a running server, over its API.

use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs};
use crate::config::Config;
use crate::output::OutputFormat;

/// `rampart alerts …`
#[derive(Subcommand)]
pub enum AlertsCommand {
    /// List alerts: `rampart alerts list --status open --level high`.
    List(Box<ListArgs>),
    /// One alert with its history and group.
    Show {
        id: i64,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        format: OutputFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Acknowledge a new alert.
    Ack {
        /// The alert's id.
        id: i64,
        /// Why (kept in the alert's history).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Assign an alert to someone (`--none` to unassign).
    Assign {
        /// The alert's id.
        id: i64,
        /// Who takes it.
        #[arg(required_unless_present = "none")]
        assignee: Option<String>,
        /// Leave it to nobody.
        #[arg(long, conflicts_with = "assignee")]
        none: bool,
        /// Why (kept in the alert's history).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Set an alert's status: new, acknowledged or in_progress (reopens a closed alert).
    Status {
        /// The alert's id.
        id: i64,
        /// new, acknowledged or in_progress.
        status: String,
        /// Why (kept in the alert's history).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Close an alert with a disposition: tp, btp or fp (true_positive, benign_true_positive, false_positive).
    Close {
        /// The alert's id.
        id: i64,
        /// tp, btp or fp.
        #[arg(long)]
        disposition: String,
        /// Why (kept in the alert's history).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Close every open alert of a group (an incident candidate judged as a whole) with a
    /// disposition: tp, btp or fp. Each alert keeps its own history entry.
    CloseGroup {
        /// The group's id.
        id: i64,
        /// tp, btp or fp.
        #[arg(long)]
        disposition: String,
        /// Why (kept in each alert's history).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Name an incident candidate; alerts joining it later no longer rename it.
    RenameGroup {
        /// The group's id.
        id: i64,
        /// The new title.
        title: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Move alerts that do not belong out of a group into a new group; the two are kept
    /// apart from then on (a later alert related to both joins one of them only).
    SplitGroup {
        /// The group's id.
        id: i64,
        /// The alerts to move, by id (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', required = true)]
        alerts: Vec<i64>,
        /// A name for the new group (else it is named after its most important alert).
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Undo the merge of group ID into another (listed under "merged" in the other's
    /// detail): the alerts it brought go back to it, and the two are kept apart.
    UnmergeGroup {
        /// The merged group's id.
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List incident candidates (groups of related alerts), or show one with `--id`.
    Groups {
        #[arg(long)]
        id: Option<i64>,
        /// Only groups with at least this many alerts.
        #[arg(long, default_value_t = 0)]
        min_alerts: u64,
        /// Only groups with an alert not closed.
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        format: OutputFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Per-rule noise: alerts raised, repeats folded, signals suppressed, false-positive rate.
    Noise {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        format: OutputFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The fatigue controls' settings in force on the server (JSON), and where they come
    /// from; `--set` changes them on the running server (kept until `--reset`).
    Settings {
        /// A setting to change, as `path=value` (`risk.threshold=150`,
        /// `grouping.entity_kinds=["host","user"]`); the value is JSON, or else a string.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Go back to the configuration file's `[triage]` settings.
        #[arg(long, conflicts_with = "set")]
        reset: bool,
        /// Why (kept with the change).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Args)]
pub struct ListArgs {
    /// Comma-separated statuses: new, acknowledged, in_progress, closed; `open` = all but closed.
    #[arg(long)]
    status: Option<String>,
    /// This level or above: informational, low, medium, high, critical.
    #[arg(long)]
    level: Option<String>,
    #[arg(long)]
    rule: Option<String>,
    /// detection, correlation, baseline, intel or risk.
    #[arg(long)]
    source: Option<String>,
    /// `kind:value` (`host:ws01`, `user:bob`) or a value of any kind.
    #[arg(long)]
    entity: Option<String>,
    /// An assignee, or `none`.
    #[arg(long)]
    assignee: Option<String>,
    #[arg(long)]
    group: Option<i64>,
    /// Seen at or after: RFC 3339 or relative (`-24h`).
    #[arg(long, allow_hyphen_values = true)]
    from: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    to: Option<String>,
    /// newest, priority or count.
    #[arg(long, default_value = "newest")]
    sort: String,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, default_value_t = 0)]
    offset: usize,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    format: OutputFormat,
    #[command(flatten)]
    server: ServerArgs,
}

/// `rampart suppress …`
#[derive(Subcommand)]
pub enum SuppressCommand {
    /// Mute a rule (or every rule) for given entities or field values:
    /// `rampart suppress add --rule R --equals user=svc_backup --reason "backup job" --expires 30d`.
    Add {
        /// The rule muted; without it, every rule (then a condition is required).
        #[arg(long)]
        rule: Option<String>,
        /// FIELD=VALUE: the entity (host, user, source_ip, …) or field equals VALUE.
        #[arg(long = "equals", value_name = "FIELD=VALUE")]
        equals: Vec<String>,
        /// FIELD=A,B,C: the entity or field is one of these.
        #[arg(long = "in", value_name = "FIELD=A,B")]
        one_of: Vec<String>,
        /// FIELD=NETWORK: the address is inside this CIDR network.
        #[arg(long, value_name = "FIELD=CIDR")]
        cidr: Vec<String>,
        /// Why the rule is muted (shown with the suppression).
        #[arg(long)]
        reason: String,
        /// `never`, a duration (`12h`, `7d`) or a time (`2025-01-31`). Required.
        #[arg(long)]
        expires: String,
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List suppressions (active, expired, revoked) with their hit counts.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        format: OutputFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What a suppression muted: its newest signals (rule, entities, events), so that
    /// nothing it hides goes unseen.
    Show {
        id: i64,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        format: OutputFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a suppression now (it stays listed as revoked).
    Remove {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `rampart risk`
#[derive(Args)]
pub struct RiskArgs {
    /// `kind:value` (`host:ws01`) or a value of any kind.
    #[arg(long)]
    entity: Option<String>,
    /// host, user, source_ip, destination_ip, process or file_hash.
    #[arg(long)]
    kind: Option<String>,
    #[arg(long, default_value_t = 0)]
    min_score: u32,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    format: OutputFormat,
    #[command(flatten)]
    server: ServerArgs,
}

fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

/// The entities of an alert as `kind=value` pairs.
fn entities(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", cell(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Print `rows` (objects) with `columns` (header, field; `entities` is rendered specially).
fn print_rows(
    rows: &[Value],
    columns: &[(&str, &str)],
    format: OutputFormat,
    whole: &Value,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(whole)?),
        OutputFormat::Jsonl => {
            for r in rows {
                println!("{r}");
            }
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            rampart_server::api::write_csv_row(
                &mut out,
                columns.iter().map(|(h, _)| Value::String((*h).to_owned())),
            );
            for r in rows {
                rampart_server::api::write_csv_row(
                    &mut out,
                    columns.iter().map(|(_, f)| match *f {
                        "entities" => Value::String(entities(&r[*f])),
                        _ => r[*f].clone(),
                    }),
                );
            }
            print!("{out}");
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(columns.iter().map(|(h, _)| *h));
            for r in rows {
                table.add_row(columns.iter().map(|(_, f)| match *f {
                    "entities" => entities(&r[*f]),
                    _ => cell(&r[*f]),
                }));
            }
            println!("{table}");
        }
    }
    Ok(())
}

const ALERT_COLUMNS: &[(&str, &str)] = &[
    ("id", "id"),
    ("prio", "priority"),
    ("level", "level"),
    ("status", "status"),
    ("rule", "rule_title"),
    ("entities", "entities"),
    ("count", "count"),
    ("last seen", "last_seen"),
    ("assignee", "assignee"),
    ("group", "group_id"),
];

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        query.push((key, v.clone()));
    }
}

/// A `FIELD=VALUE` option split in two.
fn field_value<'a>(option: &str, text: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((f, v)) if !f.trim().is_empty() && !v.trim().is_empty() => Ok((f.trim(), v.trim())),
        _ => anyhow::bail!("--{option} expects FIELD=VALUE, got '{text}'"),
    }
}

/// The suppression conditions of `--equals`, `--in` and `--cidr` options.
fn conditions(equals: &[String], one_of: &[String], cidr: &[String]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for e in equals {
        let (field, value) = field_value("equals", e)?;
        out.push(json!({"field": field, "equals": value}));
    }
    for e in one_of {
        let (field, value) = field_value("in", e)?;
        let list: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        out.push(json!({"field": field, "in": list}));
    }
    for e in cidr {
        let (field, value) = field_value("cidr", e)?;
        out.push(json!({"field": field, "cidr": value}));
    }
    Ok(out)
}

fn print_alert(answer: &Value) {
    let a = &answer["alert"];
    println!(
        "alert {} [{}] {} (priority {}, {}), {}",
        cell(&a["id"]),
        cell(&a["status"]),
        cell(&a["rule_title"]),
        cell(&a["priority"]),
        cell(&a["level"]),
        match a["disposition"].as_str() {
            Some(d) => format!("closed as {d}"),
            None => format!("assignee {}", a["assignee"].as_str().unwrap_or("-")),
        }
    );
}

fn show(detail: &Value) {
    let a = &detail["alert"];
    println!(
        "alert {}  {}  [{}]  priority {}  level {}",
        cell(&a["id"]),
        cell(&a["rule_title"]),
        cell(&a["status"]),
        cell(&a["priority"]),
        cell(&a["level"])
    );
    let rows = [
        ("rule", cell(&a["rule_id"])),
        ("source", cell(&a["source"])),
        ("entities", entities(&a["entities"])),
        ("tactics", cell(&a["tactics"])),
        ("tags", cell(&a["tags"])),
        ("count", cell(&a["count"])),
        ("first seen", cell(&a["first_seen"])),
        ("last seen", cell(&a["last_seen"])),
        ("assignee", cell(&a["assignee"])),
        ("disposition", cell(&a["disposition"])),
        ("summary", cell(&a["summary"])),
        ("events", cell(&a["event_ids"])),
        (
            "group",
            match detail["group"].as_object() {
                Some(g) => format!(
                    "{} \"{}\" ({} alerts, {} open)",
                    cell(&g["id"]),
                    cell(&g["title"]),
                    cell(&g["alert_count"]),
                    cell(&g["open_alerts"])
                ),
                None => String::new(),
            },
        ),
    ];
    for (k, v) in rows.iter().filter(|(_, v)| !v.is_empty()) {
        println!("  {k:<12} {v}");
    }
    if let Some(parts) = a["details"]["contributions"].as_array() {
        println!("  contributing detections:");
        for p in parts {
            println!(
                "    risk {:>3}  ×{}  {} ({})",
                cell(&p["risk"]),
                cell(&p["count"]),
                cell(&p["rule_title"]),
                cell(&p["rule_id"])
            );
        }
    }
    println!("  history:");
    for h in detail["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let mut line = format!(
            "    {}  {:<10} {:<12} → {}",
            cell(&h["time"]),
            cell(&h["actor"]),
            cell(&h["action"]),
            cell(&h["to_status"])
        );
        for (key, label) in [
            ("assignee", "assignee"),
            ("disposition", "as"),
            ("note", "note"),
        ] {
            if let Some(v) = h[key].as_str() {
                line.push_str(&format!("  {label} {v}"));
            }
        }
        println!("{line}");
    }
}

pub fn run_alerts(cfg: Config, cmd: AlertsCommand) -> anyhow::Result<()> {
    match cmd {
        AlertsCommand::List(args) => {
            let client = Client::new(&cfg, &args.server)?;
            let mut query: Vec<(&str, String)> = vec![
                ("sort", args.sort.clone()),
                ("limit", args.limit.to_string()),
                ("offset", args.offset.to_string()),
            ];
            push(&mut query, "status", &args.status);
            push(&mut query, "level", &args.level);
            push(&mut query, "rule", &args.rule);
            push(&mut query, "source", &args.source);
            push(&mut query, "entity", &args.entity);
            push(&mut query, "assignee", &args.assignee);
            push(&mut query, "group", &args.group.map(|g| g.to_string()));
            push(&mut query, "from", &args.from);
            push(&mut query, "to", &args.to);
            push(&mut query, "tenant", &args.tenant);
            let page = client.get_json("/api/v1/alerts", &query)?;
            let rows = page["alerts"].as_array().cloned().unwrap_or_default();
            print_rows(&rows, ALERT_COLUMNS, args.format, &page)?;
            if matches!(args.format, OutputFormat::Table) {
                eprintln!(
                    "{} alerts matched, {} shown",
                    cell(&page["total"]),
                    rows.len()
                );
            }
            Ok(())
        }
        AlertsCommand::Show { id, format, server } => {
            let detail =
                Client::new(&cfg, &server)?.get_json(&format!("/api/v1/alerts/{id}"), &[])?;
            match format {
                OutputFormat::Table => show(&detail),
                _ => println!("{}", serde_json::to_string_pretty(&detail)?),
            }
            Ok(())
        }
        AlertsCommand::Ack { id, note, server } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alerts/{id}/ack"),
                &json!({ "note": note }),
            )?;
            print_alert(&answer);
            Ok(())
        }
        AlertsCommand::Assign {
            id,
            assignee,
            none,
            note,
            server,
        } => {
            let assignee = if none { None } else { assignee };
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alerts/{id}/assign"),
                &json!({ "assignee": assignee, "note": note }),
            )?;
            print_alert(&answer);
            Ok(())
        }
        AlertsCommand::Status {
            id,
            status,
            note,
            server,
        } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alerts/{id}/status"),
                &json!({ "status": status, "note": note }),
            )?;
            print_alert(&answer);
            Ok(())
        }
        AlertsCommand::Close {
            id,
            disposition,
            note,
            server,
        } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alerts/{id}/close"),
                &json!({ "disposition": disposition, "note": note }),
            )?;
            print_alert(&answer);
            Ok(())
        }
        AlertsCommand::CloseGroup {
            id,
            disposition,
            note,
            server,
        } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alert-groups/{id}/close"),
                &json!({ "disposition": disposition, "note": note }),
            )?;
            let closed = answer["closed"].as_array().map_or(0, Vec::len);
            let group = &answer["group"];
            println!(
                "group {}: closed {closed} alert(s) as {disposition}; {} of its {} alert(s) still open",
                group["id"], group["open_alerts"], group["alert_count"]
            );
            Ok(())
        }
        AlertsCommand::RenameGroup { id, title, server } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alert-groups/{id}/title"),
                &json!({ "title": title }),
            )?;
            let g = &answer["group"];
            println!(
                "group {}: \"{}\" (named by {})",
                g["id"],
                cell(&g["title"]),
                cell(&g["title_set_by"])
            );
            Ok(())
        }
        AlertsCommand::SplitGroup {
            id,
            alerts,
            title,
            server,
        } => {
            let answer = Client::new(&cfg, &server)?.post_json(
                &format!("/api/v1/alert-groups/{id}/split"),
                &json!({ "alerts": alerts, "title": title }),
            )?;
            print_regrouped(&answer);
            Ok(())
        }
        AlertsCommand::UnmergeGroup { id, server } => {
            let answer = Client::new(&cfg, &server)?
                .post_json(&format!("/api/v1/alert-groups/{id}/unmerge"), &json!({}))?;
            print_regrouped(&answer);
            Ok(())
        }
        AlertsCommand::Groups {
            id,
            min_alerts,
            open,
            limit,
            tenant,
            format,
            server,
        } => {
            let client = Client::new(&cfg, &server)?;
            if let Some(id) = id {
                let detail = client.get_json(&format!("/api/v1/alert-groups/{id}"), &[])?;
                let g = &detail["group"];
                if matches!(format, OutputFormat::Table) {
                    println!(
                        "group {} \"{}\"  {} alerts ({} open)  max {}  tactics: {}",
                        cell(&g["id"]),
                        cell(&g["title"]),
                        cell(&g["alert_count"]),
                        cell(&g["open_alerts"]),
                        cell(&g["max_level"]),
                        cell(&g["tactics"])
                    );
                }
                let rows = detail["alerts"].as_array().cloned().unwrap_or_default();
                print_rows(&rows, ALERT_COLUMNS, format, &detail)?;
                if matches!(format, OutputFormat::Table) {
                    for m in detail["merged"].as_array().into_iter().flatten() {
                        println!(
                            "merged in: group {} \"{}\" ({} of its alerts here; `rampart alerts unmerge-group {}` undoes it)",
                            cell(&m["id"]),
                            cell(&m["title"]),
                            cell(&m["alerts"]),
                            cell(&m["id"])
                        );
                    }
                }
                return Ok(());
            }
            let mut query = vec![
                ("min_alerts", min_alerts.to_string()),
                ("open", open.to_string()),
                ("limit", limit.to_string()),
            ];
            push(&mut query, "tenant", &tenant);
            let page = client.get_json("/api/v1/alert-groups", &query)?;
            let rows = page["groups"].as_array().cloned().unwrap_or_default();
            let columns = [
                ("id", "id"),
                ("title", "title"),
                ("alerts", "alert_count"),
                ("open", "open_alerts"),
                ("max level", "max_level"),
                ("max prio", "max_priority"),
                ("tactics", "tactics"),
                ("last seen", "last_seen"),
            ];
            print_rows(&rows, &columns, format, &page)
        }
        AlertsCommand::Noise {
            tenant,
            format,
            server,
        } => {
            let mut query = Vec::new();
            push(&mut query, "tenant", &tenant);
            let answer = Client::new(&cfg, &server)?.get_json("/api/v1/rules/noise", &query)?;
            let rows = answer["rules"].as_array().cloned().unwrap_or_default();
            let columns = [
                ("rule", "rule_title"),
                ("rule id", "rule_id"),
                ("signals", "signals"),
                ("raised", "raised"),
                ("dedup", "deduplicated"),
                ("suppressed", "suppressed"),
                ("tp", "true_positive"),
                ("btp", "benign_true_positive"),
                ("fp", "false_positive"),
                ("fp rate", "false_positive_rate"),
            ];
            print_rows(&rows, &columns, format, &answer)
        }
        AlertsCommand::Settings {
            set,
            reset,
            reason,
            server,
        } => {
            let client = Client::new(&cfg, &server)?;
            let answer = if reset {
                client.post_json(
                    "/api/v1/triage/settings/reset",
                    &json!({ "reason": reason }),
                )?
            } else if !set.is_empty() {
                let mut patch = json!({});
                for item in &set {
                    settings_patch(&mut patch, item)?;
                }
                client.put_json(
                    "/api/v1/triage/settings",
                    &json!({ "settings": patch, "reason": reason }),
                )?
            } else {
                client.get_json("/api/v1/triage/settings", &[])?
            };
            println!("{}", serde_json::to_string_pretty(&answer["settings"])?);
            let change = &answer["last_change"];
            if answer["source"] == "file" {
                println!("source: the configuration file's [triage] section");
            } else {
                println!(
                    "source: changed by {} at {}{}",
                    cell(&change["actor"]),
                    cell(&change["time"]),
                    change["reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

/// Add `path=value` (`risk.threshold=150`) to a settings merge patch; the value is read as
/// JSON, or else taken as a string.
fn settings_patch(patch: &mut Value, item: &str) -> anyhow::Result<()> {
    let (path, value) = item.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--set {item}: expected PATH=VALUE, as risk.threshold=150")
    })?;
    let value =
        serde_json::from_str(value.trim()).unwrap_or_else(|_| Value::String(value.to_owned()));
    let mut node = patch;
    let keys: Vec<&str> = path.trim().split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        anyhow::bail!("--set {item}: a setting's path is dot-separated names, as risk.threshold");
    }
    for key in &keys[..keys.len() - 1] {
        let map = node
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("--set {item}: {path} crosses a value"))?;
        node = map.entry((*key).to_owned()).or_insert_with(|| json!({}));
    }
    let map = node
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("--set {item}: {path} crosses a value"))?;
    map.insert(keys[keys.len() - 1].to_owned(), value);
    Ok(())
}

/// The outcome of a split or an undone merge, one line per group.
fn print_regrouped(answer: &Value) {
    let moved = answer["moved"].as_array().map_or(0, Vec::len);
    let (to, from) = (&answer["group"], &answer["from"]);
    println!(
        "moved {moved} alert(s) from group {} to group {}",
        cell(&from["id"]),
        cell(&to["id"])
    );
    for g in [to, from] {
        println!(
            "group {} \"{}\": {} alert(s), {} open, max {}",
            cell(&g["id"]),
            cell(&g["title"]),
            cell(&g["alert_count"]),
            cell(&g["open_alerts"]),
            cell(&g["max_level"])
        );
    }
}

pub fn run_suppress(cfg: Config, cmd: SuppressCommand) -> anyhow::Result<()> {
    match cmd {
        SuppressCommand::Add {
            rule,
            equals,
            one_of,
            cidr,
            reason,
            expires,
            tenant,
            server,
        } => {
            let body = json!({
                "rule_id": rule,
                "conditions": conditions(&equals, &one_of, &cidr)?,
                "reason": reason,
                "expires": expires,
                "tenant": tenant,
            });
            let answer = Client::new(&cfg, &server)?.post_json("/api/v1/suppressions", &body)?;
            let s = &answer["suppression"];
            println!(
                "suppression {} added by {}, expires {}",
                cell(&s["id"]),
                cell(&s["author"]),
                s["expires"].as_str().unwrap_or("never")
            );
            for w in answer["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            Ok(())
        }
        SuppressCommand::Show {
            id,
            limit,
            format,
            server,
        } => {
            let answer = Client::new(&cfg, &server)?.get_json(
                &format!("/api/v1/suppressions/{id}/signals"),
                &[("limit", limit.to_string())],
            )?;
            let sup = &answer["suppression"];
            let mut rows = answer["signals"].as_array().cloned().unwrap_or_default();
            for r in &mut rows {
                r["entities_text"] = Value::String(
                    r["entities"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", cell(v)))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default(),
                );
                r["events"] = json!(r["event_ids"].as_array().map_or(0, Vec::len));
            }
            if matches!(format, OutputFormat::Table) {
                println!(
                    "suppression {} ({}): {} signal(s) muted, the newest {} kept; reason: {}",
                    sup["id"],
                    cell(&sup["state"]),
                    sup["hits"],
                    answer["kept_at_most"],
                    cell(&sup["reason"])
                );
            }
            let columns = [
                ("time", "time"),
                ("muted", "recorded"),
                ("level", "level"),
                ("rule", "rule_title"),
                ("entities", "entities_text"),
                ("events", "events"),
                ("summary", "summary"),
            ];
            print_rows(&rows, &columns, format, &answer)
        }
        SuppressCommand::List {
            tenant,
            format,
            server,
        } => {
            let mut query = Vec::new();
            push(&mut query, "tenant", &tenant);
            let answer = Client::new(&cfg, &server)?.get_json("/api/v1/suppressions", &query)?;
            let mut rows = answer["suppressions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for r in &mut rows {
                let text = r["conditions"]
                    .as_array()
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                let (op, v) = ["equals", "in", "cidr"]
                                    .iter()
                                    .find_map(|op| c.get(*op).map(|v| (*op, cell(v))))
                                    .unwrap_or(("?", String::new()));
                                format!("{} {op} {v}", cell(&c["field"]))
                            })
                            .collect::<Vec<_>>()
                            .join(" and ")
                    })
                    .unwrap_or_default();
                r["conditions_text"] = Value::String(text);
                if r["expires"].is_null() {
                    r["expires"] = Value::String("never".into());
                }
            }
            let columns = [
                ("id", "id"),
                ("state", "state"),
                ("rule", "rule_id"),
                ("conditions", "conditions_text"),
                ("author", "author"),
                ("reason", "reason"),
                ("expires", "expires"),
                ("hits", "hits"),
                ("last hit", "last_hit"),
            ];
            print_rows(&rows, &columns, format, &answer)
        }
        SuppressCommand::Remove { id, server } => {
            let answer =
                Client::new(&cfg, &server)?.delete_json(&format!("/api/v1/suppressions/{id}"))?;
            let s = &answer["suppression"];
            println!(
                "suppression {} revoked by {} ({} hits kept)",
                cell(&s["id"]),
                cell(&s["revoked_by"]),
                cell(&s["hits"])
            );
            Ok(())
        }
    }
}

pub fn run_risk(cfg: Config, args: RiskArgs) -> anyhow::Result<()> {
    let mut query = vec![
        ("min_score", args.min_score.to_string()),
        ("limit", args.limit.to_string()),
    ];
    push(&mut query, "entity", &args.entity);
    push(&mut query, "kind", &args.kind);
    push(&mut query, "tenant", &args.tenant);
    let answer = Client::new(&cfg, &args.server)?.get_json("/api/v1/risk", &query)?;
    let mut rows = answer["entities"].as_array().cloned().unwrap_or_default();
    for r in &mut rows {
        let parts: Vec<String> = r["contributions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|c| format!("{} {}", cell(&c["rule_title"]), cell(&c["risk"])))
            .collect();
        r["contributions_text"] = Value::String(parts.join(", "));
    }
    let columns = [
        ("kind", "kind"),
        ("entity", "value"),
        ("score", "score"),
        ("over", "above_threshold"),
        ("contributing rules (risk)", "contributions_text"),
    ];
    print_rows(&rows, &columns, args.format, &answer)?;
    if matches!(args.format, OutputFormat::Table) {
        eprintln!("threshold {}", cell(&answer["threshold"]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppression_options_become_conditions() {
        let got = conditions(
            &["user=svc_backup".into()],
            &["host=a, b,".into()],
            &["source_ip=10.0.0.0/8".into()],
        )
        .expect("valid");
        assert_eq!(
            got,
            vec![
                json!({"field": "user", "equals": "svc_backup"}),
                json!({"field": "host", "in": ["a", "b"]}),
                json!({"field": "source_ip", "cidr": "10.0.0.0/8"}),
            ]
        );
        for bad in ["user", "=x", "user="] {
            let err = conditions(&[bad.into()], &[], &[]).expect_err("invalid");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
