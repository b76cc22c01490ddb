//! Stage tests: queries with pipes over a fixed set of rows, compared as JSON tables.

use super::*;
use crate::parse_at;
use rampart_model::{Origin, OriginKind, Raw, Timestamp};
use serde_json::json;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-10T13:00:00Z").expect("literal time")
}

fn row(v: Value) -> Row {
    match v {
        Value::Object(map) => map,
        other => panic!("fixture row must be an object, got {other}"),
    }
}

fn rows() -> Vec<Row> {
    vec![
        row(
            json!({"@timestamp": "2024-03-10T10:05:00Z", "source.ip": "10.0.0.1",
                   "user.name": "root", "bytes": 100, "message": "Failed password for root"}),
        ),
        row(
            json!({"@timestamp": "2024-03-10T10:20:00Z", "source.ip": "10.0.0.1",
                   "user.name": "admin", "bytes": "250", "message": "Failed password for admin"}),
        ),
        row(
            json!({"@timestamp": "2024-03-10T12:40:00Z", "source.ip": "10.0.0.2",
                   "user.name": "root", "bytes": 50.5, "message": "Accepted password for root"}),
        ),
        row(
            json!({"@timestamp": "2024-03-10T12:41:00Z", "source.ip": "10.0.0.3",
                   "user.name": ["root", "admin"], "message": "weird multi user"}),
        ),
        row(json!({"@timestamp": "not a time", "user.name": "guest", "message": "no ip"})),
    ]
}

fn run(query: &str, rows: Vec<Row>) -> Result<Table, String> {
    let search = parse_at(query, now()).map_err(|e| e.render(query))?;
    let matcher = Matcher::with_now(&search.filter, now()).map_err(|e| e.to_string())?;
    let rows = rows.into_iter().filter(|r| matcher.matches(r)).collect();
    apply_stages(&search.stages, rows).map_err(|e| e.to_string())
}

const CASES: &[(&str, &str)] = &[
    (
        "| stats count() by source.ip",
        r#"{"columns":["source.ip","count"],"rows":[["10.0.0.1",2],["10.0.0.2",1],["10.0.0.3",1]]}"#,
    ),
    (
        "| stats count() as n, dc(user.name) as users, sum(bytes), avg(bytes), min(bytes), max(bytes), min(user.name) as first",
        r#"{"columns":["n","users","sum(bytes)","avg(bytes)","min(bytes)","max(bytes)","first"],
            "rows":[[5,3,400.5,133.5,50.5,250,"admin"]]}"#,
    ),
    (
        "| stats sum(bytes) as s by user.name",
        r#"{"columns":["user.name","s"],"rows":[["root",150.5],["admin",250],["guest",null]]}"#,
    ),
    (
        "| stats count() by user.name",
        r#"{"columns":["user.name","count"],"rows":[["root",3],["admin",2],["guest",1]]}"#,
    ),
    (
        "| stats count() by source.ip, user.name",
        r#"{"columns":["source.ip","user.name","count"],"rows":[
            ["10.0.0.1","admin",1],["10.0.0.1","root",1],["10.0.0.2","root",1],
            ["10.0.0.3","admin",1],["10.0.0.3","root",1]]}"#,
    ),
    (
        "nomatch | stats count(), dc(x), avg(x)",
        r#"{"columns":["count","dc(x)","avg(x)"],"rows":[[0,0,null]]}"#,
    ),
    (
        "| top 2 user.name",
        r#"{"columns":["user.name","count","percent"],"rows":[["root",3,50.0],["admin",2,33.3333]]}"#,
    ),
    (
        "| rare 1 user.name",
        r#"{"columns":["user.name","count","percent"],"rows":[["guest",1,16.6667]]}"#,
    ),
    (
        "| top 1 source.ip user.name",
        r#"{"columns":["source.ip","user.name","count","percent"],"rows":[["10.0.0.1","admin",1,20.0]]}"#,
    ),
    (
        "| timechart span=1h count()",
        r#"{"columns":["_time","count"],"rows":[
            ["2024-03-10T10:00:00Z",2],["2024-03-10T11:00:00Z",0],["2024-03-10T12:00:00Z",2]]}"#,
    ),
    (
        "| timechart span=1h count() by source.ip",
        r#"{"columns":["_time","10.0.0.1","10.0.0.2","10.0.0.3"],"rows":[
            ["2024-03-10T10:00:00Z",2,0,0],["2024-03-10T11:00:00Z",0,0,0],
            ["2024-03-10T12:00:00Z",0,1,1]]}"#,
    ),
    (
        "| timechart span=2h count(), max(bytes) as top by source.ip | head 1",
        r#"{"columns":["_time","count: 10.0.0.1","top: 10.0.0.1","count: 10.0.0.2","top: 10.0.0.2",
                       "count: 10.0.0.3","top: 10.0.0.3"],
            "rows":[["2024-03-10T10:00:00Z",2,250,0,null,0,null]]}"#,
    ),
    (
        "| timechart span=1d count() by bytes",
        r#"{"columns":["_time","100","250","50.5","NULL"],"rows":[["2024-03-10T00:00:00Z",1,1,1,1]]}"#,
    ),
    (
        "| sort -bytes | fields user.name, bytes",
        r#"{"columns":["user.name","bytes"],"rows":[
            ["admin","250"],["root",100],["root",50.5],[["root","admin"],null],["guest",null]]}"#,
    ),
    (
        "| sort bytes | fields bytes",
        r#"{"columns":["bytes"],"rows":[[50.5],[100],["250"],[null],[null]]}"#,
    ),
    (
        "| where NOT user.name:admin | sort user.name | fields user.name",
        r#"{"columns":["user.name"],"rows":[["guest"],["root"],["root"]]}"#,
    ),
    (
        "| head 2 | fields user.name",
        r#"{"columns":["user.name"],"rows":[["root"],["admin"]]}"#,
    ),
    (
        "| tail 2 | fields message",
        r#"{"columns":["message"],"rows":[["weird multi user"],["no ip"]]}"#,
    ),
    ("| head 0", r#"{"columns":[],"rows":[]}"#),
    (
        "| fields user.name, nope | head 1",
        r#"{"columns":["user.name","nope"],"rows":[["root",null]]}"#,
    ),
    (
        "| stats count() by source.ip | where count > 1",
        r#"{"columns":["source.ip","count"],"rows":[["10.0.0.1",2]]}"#,
    ),
    (
        "| stats count() by source.ip | sort source.ip desc | head 1",
        r#"{"columns":["source.ip","count"],"rows":[["10.0.0.3",1]]}"#,
    ),
    (
        "| stats count() as n by user.name | sort n, -user.name",
        r#"{"columns":["user.name","n"],"rows":[["guest",1],["admin",2],["root",3]]}"#,
    ),
    (
        "| where failed | stats count()",
        r#"{"columns":["count"],"rows":[[2]]}"#,
    ),
    (
        "| where bytes >= 100 | fields bytes",
        r#"{"columns":["bytes"],"rows":[[100],["250"]]}"#,
    ),
    (
        "source.ip:10.0.0.2 | head 1",
        r#"{"columns":["@timestamp","bytes","message","source.ip","user.name"],
            "rows":[["2024-03-10T12:40:00Z",50.5,"Accepted password for root","10.0.0.2","root"]]}"#,
    ),
];

#[test]
fn stages_produce_expected_tables() {
    let mut failures = Vec::new();
    for (query, want) in CASES {
        let want: Value = serde_json::from_str(want).expect("valid expected JSON");
        match run(query, rows()) {
            Ok(table) => {
                let got = serde_json::to_value(&table).expect("table serialises");
                if got != want {
                    failures.push(format!("{query}\n   got  {got}\n   want {want}"));
                }
            }
            Err(e) => failures.push(format!("{query}\n   error {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn timechart_folds_rare_series_into_other() {
    let mut input: Vec<Row> = (0..12)
        .map(|i| row(json!({"@timestamp": "2024-03-10T10:00:00Z", "host": format!("h{i:02}")})))
        .collect();
    input.push(row(
        json!({"@timestamp": "2024-03-10T10:30:00Z", "host": "h00"}),
    ));
    let table = run("| timechart span=1h count() by host", input).expect("runs");
    let mut want: Vec<String> = vec!["_time".into()];
    want.extend((0..10).map(|i| format!("h{i:02}")));
    want.push("OTHER".into());
    assert_eq!(table.columns, want);
    let mut cells = vec![json!("2024-03-10T10:00:00Z"), json!(2)];
    cells.extend(std::iter::repeat_n(json!(1), 9));
    cells.push(json!(2));
    assert_eq!(table.rows, vec![cells]);
}

#[test]
fn timechart_refuses_absurd_bucket_counts() {
    let input = vec![
        row(json!({"@timestamp": "1970-01-01T00:00:00Z"})),
        row(json!({"@timestamp": "2024-01-01T00:00:00Z"})),
    ];
    let err = run("| timechart span=1s count()", input).expect_err("too many buckets");
    assert!(err.contains("use a larger span"), "{err}");
    let bad = apply_stages(
        &[Stage::Timechart {
            span_nanos: 0,
            aggs: Vec::new(),
            by: None,
        }],
        Vec::new(),
    );
    assert!(matches!(bad, Err(QueryError::BadSpan(0))));
}

#[test]
fn sum_overflowing_i64_becomes_float() {
    let input = vec![
        row(json!({"n": i64::MAX})),
        row(json!({"n": 1})),
        row(json!({"n": "x"})),
    ];
    let table = run("| stats sum(n) as s, count() as c", input).expect("runs");
    assert_eq!(
        table.rows,
        vec![vec![json!(i64::MAX as f64 + 1.0), json!(3)]]
    );
}

#[test]
fn event_row_flattens_the_document() {
    let mut ev = Event::new(
        Origin::new(OriginKind::Import, "cli"),
        Raw::Text("hello".into()),
    );
    ev.set("host.name", "web01");
    ev.set("tags", json!(["a", "b"]));
    let r = event_row(&ev);
    assert_eq!(r.get("host.name"), Some(&json!("web01")));
    assert_eq!(r.get("tags"), Some(&json!(["a", "b"])));
    assert_eq!(r.get("event.original"), Some(&json!("hello")));
    assert_eq!(r.get("tenant"), Some(&json!("default")));
    assert_eq!(r.get("rampart.origin.kind"), Some(&json!("import")));
    assert_eq!(r.get("@timestamp"), Some(&json!(ev.timestamp.to_rfc3339())));
    assert!(
        r.keys().all(|k| !r[k].is_object()),
        "no nested objects left"
    );
}

#[test]
fn free_text_over_rows_without_message_searches_all_strings() {
    let input = vec![
        row(json!({"a": "alpha beta"})),
        row(json!({"b": {"c": "gamma"}})),
        row(json!({"message": "delta", "other": "gamma"})),
    ];
    let table = run("gamma | stats count()", input).expect("runs");
    assert_eq!(table.rows, vec![vec![json!(1)]]);
}
