//! Printing search results as a terminal table, JSON or CSV.

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn print_response(
    response: &rampart_store::SearchResponse,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let (columns, rows) = rampart_server::api::tabulate(&response.result);
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(response)?),
        OutputFormat::Jsonl => match &response.result {
            rampart_store::SearchResult::Events { events, .. } => {
                for ev in events {
                    println!("{}", serde_json::to_string(ev)?);
                }
            }
            rampart_store::SearchResult::Table { .. } => {
                for row in rows {
                    let obj: serde_json::Map<String, Value> =
                        columns.iter().cloned().zip(row).collect();
                    println!("{}", Value::Object(obj));
                }
            }
        },
        OutputFormat::Csv => {
            let mut out = String::new();
            rampart_server::api::write_csv_row(
                &mut out,
                columns.iter().map(|c| Value::String(c.clone())),
            );
            for row in rows {
                rampart_server::api::write_csv_row(&mut out, row.into_iter());
            }
            print!("{out}");
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(columns.iter());
            let n = rows.len();
            for row in rows {
                table.add_row(row.iter().map(cell));
            }
            println!("{table}");
            match &response.result {
                rampart_store::SearchResult::Events { total, .. } => eprintln!(
                    "{total} events matched, {n} shown ({:.1} ms)",
                    response.took_ms
                ),
                rampart_store::SearchResult::Table { .. } => {
                    eprintln!("{n} rows ({:.1} ms)", response.took_ms)
                }
            }
        }
    }
    Ok(())
}

/// Print a table without the "N rows" footer (for timelines).
pub fn print_table_only(response: &rampart_store::SearchResponse) -> anyhow::Result<()> {
    let (columns, rows) = rampart_server::api::tabulate(&response.result);
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter());
    for row in rows {
        table.add_row(row.iter().map(cell));
    }
    println!("{table}");
    Ok(())
}
