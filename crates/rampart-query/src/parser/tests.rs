//! Parser tests: query text → compact rendering of the syntax tree, and error positions.

use crate::ast::*;
use crate::parse_at;
use rampart_model::Timestamp;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-10T12:00:00Z").expect("literal time")
}

fn lit(l: &Literal) -> String {
    match l {
        Literal::Str(s) => format!("Str({s})"),
        Literal::Int(i) => format!("Int({i})"),
        Literal::Float(f) => format!("Float({f})"),
        Literal::Bool(b) => format!("Bool({b})"),
        Literal::Time(t) => format!("Time({})", Timestamp(*t).to_rfc3339()),
    }
}

fn show_expr(e: &Expr) -> String {
    let list = |name: &str, items: &[Expr]| {
        let inner: Vec<String> = items.iter().map(show_expr).collect();
        format!("({name} {})", inner.join(" "))
    };
    match e {
        Expr::All => "*".into(),
        Expr::And(items) => list("and", items),
        Expr::Or(items) => list("or", items),
        Expr::Not(inner) => format!("(not {})", show_expr(inner)),
        Expr::Exists { field } => format!("exists({field})"),
        Expr::Text(TextMatch::Term(t)) => format!("term({t})"),
        Expr::Text(TextMatch::Phrase(p)) => format!("phrase({p})"),
        Expr::Field { field, predicate } => match predicate {
            Predicate::Equals(l) => format!("{field}={}", lit(l)),
            Predicate::Phrase(p) => format!("{field}~\"{p}\""),
            Predicate::Wildcard(w) => format!("{field}~glob({w})"),
            Predicate::Regex(r) => format!("{field}~/{r}/"),
            Predicate::Range { lower, upper } => {
                let mut parts = Vec::new();
                match lower {
                    Bound::Unbounded => {}
                    Bound::Inclusive(l) => parts.push(format!(">={}", lit(l))),
                    Bound::Exclusive(l) => parts.push(format!(">{}", lit(l))),
                }
                match upper {
                    Bound::Unbounded => {}
                    Bound::Inclusive(l) => parts.push(format!("<={}", lit(l))),
                    Bound::Exclusive(l) => parts.push(format!("<{}", lit(l))),
                }
                format!("{field}({})", parts.join(", "))
            }
        },
    }
}

fn show_aggs(aggs: &[Aggregation]) -> String {
    let items: Vec<String> = aggs
        .iter()
        .map(|a| {
            let f = match &a.function {
                AggFunction::Count => "count()".to_owned(),
                AggFunction::DistinctCount(f) => format!("dc({f})"),
                AggFunction::Sum(f) => format!("sum({f})"),
                AggFunction::Avg(f) => format!("avg({f})"),
                AggFunction::Min(f) => format!("min({f})"),
                AggFunction::Max(f) => format!("max({f})"),
            };
            format!("{f}={}", a.alias)
        })
        .collect();
    items.join(", ")
}

fn show_stage(s: &Stage) -> String {
    match s {
        Stage::Stats { aggs, by } if by.is_empty() => format!("stats({})", show_aggs(aggs)),
        Stage::Stats { aggs, by } => format!("stats({} by {})", show_aggs(aggs), by.join(" ")),
        Stage::Top { limit, fields } => format!("top({limit} {})", fields.join(" ")),
        Stage::Rare { limit, fields } => format!("rare({limit} {})", fields.join(" ")),
        Stage::Timechart {
            span_nanos,
            aggs,
            by,
        } => {
            let by = by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default();
            format!(
                "timechart({} {}{by})",
                crate::format_duration(*span_nanos),
                show_aggs(aggs)
            )
        }
        Stage::Sort { keys } => {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| format!("{}{}", if k.descending { '-' } else { '+' }, k.field))
                .collect();
            format!("sort({})", keys.join(" "))
        }
        Stage::Head { limit } => format!("head({limit})"),
        Stage::Tail { limit } => format!("tail({limit})"),
        Stage::Fields { fields } => format!("fields({})", fields.join(" ")),
        Stage::Where { filter } => format!("where({})", show_expr(filter)),
    }
}

fn show(search: &Search) -> String {
    let mut out = show_expr(&search.filter);
    for stage in &search.stages {
        out.push_str(" | ");
        out.push_str(&show_stage(stage));
    }
    out
}

const CASES: &[(&str, &str)] = &[
    // match-all
    ("", "*"),
    ("*", "*"),
    ("   ", "*"),
    ("*:*", "*"),
    // field values
    ("host.name:web01", "host.name=Str(web01)"),
    ("host.name: web01", "host.name=Str(web01)"),
    (r#"user.name:"John Smith""#, r#"user.name~"John Smith""#),
    (r#"x:"a \"quoted\" word""#, r#"x~"a "quoted" word""#),
    ("user.name:svc_*", "user.name~glob(svc_*)"),
    ("user.name:svc_?", "user.name~glob(svc_?)"),
    (r"user.name:svc\*", "user.name=Str(svc*)"),
    (r"file.name:a\*b*", r"file.name~glob(a\*b*)"),
    ("process.pid:1234", "process.pid=Int(1234)"),
    ("x:-5", "x=Int(-5)"),
    ("x:007", "x=Str(007)"),
    ("x:1.5", "x=Float(1.5)"),
    ("x:true", "x=Bool(true)"),
    ("source.ip:10.0.0.0/8", "source.ip=Str(10.0.0.0/8)"),
    ("source.ip:fe80::1", "source.ip=Str(fe80::1)"),
    (
        r"process.executable:C:\Windows\System32\cmd.exe",
        r"process.executable=Str(C:\Windows\System32\cmd.exe)",
    ),
    (
        r"process.executable:*\cmd.exe",
        r"process.executable~glob(*\\cmd.exe)",
    ),
    (r"field\:name:x", "field:name=Str(x)"),
    // grouped values
    (
        "event.code:(4624 OR 4625)",
        "(or event.code=Int(4624) event.code=Int(4625))",
    ),
    (
        "event.code:(4624 4625)",
        "(or event.code=Int(4624) event.code=Int(4625))",
    ),
    (
        "user.name:(alice OR bob AND NOT carol)",
        "(or user.name=Str(alice) (and user.name=Str(bob) (not user.name=Str(carol))))",
    ),
    ("user.name:(adm*)", "user.name~glob(adm*)"),
    (
        "x:(a OR (b AND c))",
        "(or x=Str(a) (and x=Str(b) x=Str(c)))",
    ),
    // ranges and comparisons
    ("bytes:[1000 TO 5000]", "bytes(>=Int(1000), <=Int(5000))"),
    ("bytes:{1 TO *}", "bytes(>Int(1))"),
    ("bytes:[1 to 5}", "bytes(>=Int(1), <Int(5))"),
    ("bytes:[* TO *]", "bytes()"),
    ("bytes >= 1000", "bytes(>=Int(1000))"),
    ("bytes:>=1000", "bytes(>=Int(1000))"),
    ("bytes<5", "bytes(<Int(5))"),
    ("bytes <= 5", "bytes(<=Int(5))"),
    ("bytes > 1.5", "bytes(>Float(1.5))"),
    (
        "@timestamp >= now-1h",
        "@timestamp(>=Time(2024-03-10T11:00:00Z))",
    ),
    (
        "@timestamp:[2024-01-01 TO 2024-01-02T00:00:00Z}",
        "@timestamp(>=Time(2024-01-01T00:00:00Z), <Time(2024-01-02T00:00:00Z))",
    ),
    ("name:[a TO m]", "name(>=Str(a), <=Str(m))"),
    ("name:[\"a b\" TO \"c\"]", "name(>=Str(a b), <=Str(c))"),
    // regex and exists
    (
        "process.command_line:/.*powershell.*-enc.*/",
        "process.command_line~/.*powershell.*-enc.*/",
    ),
    (r"url.path:/\/admin\/.*/", "url.path~//admin/.*/"),
    ("user.name:*", "exists(user.name)"),
    ("_exists_:user.name", "exists(user.name)"),
    // boolean structure and precedence: NOT > AND > OR
    ("a AND b", "(and term(a) term(b))"),
    ("a b c", "(and term(a) term(b) term(c))"),
    ("a OR b c", "(or term(a) (and term(b) term(c)))"),
    ("a or b and c", "(or term(a) (and term(b) term(c)))"),
    ("a || b && !c", "(or term(a) (and term(b) (not term(c))))"),
    ("NOT a b", "(and (not term(a)) term(b))"),
    ("not (a or b)", "(not (or term(a) term(b)))"),
    ("NOT NOT a", "(not (not term(a)))"),
    (
        "a AND NOT b OR c",
        "(or (and term(a) (not term(b))) term(c))",
    ),
    ("(a OR b) AND c", "(and (or term(a) term(b)) term(c))"),
    ("-user.name:root", "(not user.name=Str(root))"),
    ("a -b", "(and term(a) (not term(b)))"),
    ("!(a)", "(not term(a))"),
    ("andy ornot", "(and term(andy) term(ornot))"),
    // free text
    ("\"Failed password\"", "phrase(Failed password)"),
    ("fail* root", "(and term(fail*) term(root))"),
    (
        "\"Failed password\" for root",
        "(and phrase(Failed password) term(for) term(root))",
    ),
    ("user=root", "term(user=root)"),
    // pipes
    ("| stats count()", "* | stats(count()=count)"),
    (
        "event.outcome:failure | stats count() as n, dc(user.name) by source.ip, host.name",
        "event.outcome=Str(failure) | stats(count()=n, dc(user.name)=dc(user.name) by source.ip host.name)",
    ),
    ("| stats count by a b", "* | stats(count()=count by a b)"),
    (
        "| STATS sum(bytes) avg(bytes) min(bytes), max(bytes) distinct_count(u) as users",
        "* | stats(sum(bytes)=sum(bytes), avg(bytes)=avg(bytes), min(bytes)=min(bytes), max(bytes)=max(bytes), dc(u)=users)",
    ),
    ("| top user.name", "* | top(10 user.name)"),
    ("| top 5 a, b", "* | top(5 a b)"),
    ("| top limit=3 user.name", "* | top(3 user.name)"),
    ("| rare 3 process.name", "* | rare(3 process.name)"),
    (
        "| timechart span=5m count() by host.name",
        "* | timechart(5m count()=count by host.name)",
    ),
    ("| timechart", "* | timechart(1h count()=count)"),
    (
        "| timechart span=1d dc(user.name) as users",
        "* | timechart(1d dc(user.name)=users)",
    ),
    ("| sort -count, host.name", "* | sort(-count +host.name)"),
    ("| sort count desc, +b asc", "* | sort(-count +b)"),
    ("| sort -dc(user.name)", "* | sort(-dc(user.name))"),
    ("| head", "* | head(10)"),
    ("x:y|head 3|tail", "x=Str(y) | head(3) | tail(10)"),
    (
        "| fields host.name, user.name",
        "* | fields(host.name user.name)",
    ),
    (
        "| stats count() by source.ip | where count > 10",
        "* | stats(count()=count by source.ip) | where(count(>Int(10)))",
    ),
    (
        "a | where x:y OR z",
        "term(a) | where((or x=Str(y) term(z)))",
    ),
];

#[test]
fn parses_to_expected_tree() {
    let mut failures = Vec::new();
    for (text, want) in CASES {
        match parse_at(text, now()) {
            Ok(search) => {
                let got = show(&search);
                if got != *want {
                    failures.push(format!("{text:?}\n   got  {got}\n   want {want}"));
                }
            }
            Err(e) => failures.push(format!("{text:?}\n   error {}", e.render(text))),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(CASES.len() >= 40);
}

#[test]
fn search_serialises_as_json() {
    let search = parse_at("event.code:4625 | stats count() by source.ip", now()).expect("parses");
    let json = serde_json::to_value(&search).expect("serialise");
    assert_eq!(
        json["filter"],
        serde_json::json!({"field": {"field": "event.code", "predicate": {"equals": {"int": 4625}}}})
    );
    let back: Search = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, search);
}

const ERRORS: &[(&str, usize, &str)] = &[
    ("host.name:", 10, "expected a value after ':'"),
    (
        "host.name: | stats count()",
        11,
        "expected a value after ':'",
    ),
    ("(host.name:)", 11, "expected a value after ':'"),
    ("host.name: AND x", 11, "found the operator 'AND'"),
    ("\"unclosed", 0, "unclosed quote"),
    ("x:\"abc", 2, "unclosed quote"),
    ("a AND (b OR c", 6, "unclosed '('"),
    ("a)", 1, "unmatched ')'"),
    ("()", 1, "empty parentheses"),
    ("a AND", 5, "expected a search term at the end"),
    ("a || ", 5, "expected a search term at the end"),
    ("AND a", 0, "expected a search term before 'AND'"),
    ("a OR OR b", 5, "expected a search term before 'OR'"),
    ("NOT", 3, "expected a search term at the end"),
    (":foo", 0, "expected a field name before ':'"),
    ("<script>", 0, "expected a field name before '<'"),
    ("bytes:[1 5]", 9, "expected 'TO' in range, found '5'"),
    ("bytes:[1 TO ]", 12, "expected an upper bound"),
    ("bytes:[1 TO 5", 6, "unclosed range"),
    ("bytes:[1", 6, "unclosed range"),
    ("bytes:[1 TO 5 x]", 14, "expected ']' or '}'"),
    ("bytes:[TO 5]", 7, "expected a lower bound"),
    ("bytes:[]", 7, "expected a lower bound"),
    ("bytes >=", 8, "expected a value after '>='"),
    ("bytes > *", 8, "not '*'"),
    ("x:/abc", 2, "unclosed regular expression"),
    ("x:/(/", 2, "invalid regular expression"),
    ("x:(a OR ", 8, "expected a value at the end"),
    ("x:(a", 2, "unclosed '(' in the values of 'x'"),
    ("x:()", 3, "expected a value before ')'"),
    ("x:(OR a)", 3, "expected a value before 'OR'"),
    (
        "| bogus",
        2,
        "unknown command 'bogus'; known commands: stats, top",
    ),
    ("|", 1, "expected a command after '|'"),
    ("a |", 3, "expected a command after '|'"),
    ("| stats", 7, "expected an aggregation"),
    ("| stats foo()", 8, "unknown aggregation 'foo'"),
    ("| stats dc()", 8, "dc() needs a field"),
    ("| stats count(x)", 8, "count() takes no field"),
    ("| stats count(", 13, "expected ')' to close 'count('"),
    ("| stats count() by", 18, "expected a field name after 'by'"),
    (
        "| stats count(), count()",
        2,
        "column 'count' appears twice",
    ),
    (
        "| stats count() as",
        18,
        "expected a column name after 'as'",
    ),
    ("| timechart span=1x count()", 17, "invalid span '1x'"),
    ("| timechart span=0s", 17, "invalid span '0s'"),
    ("| timechart foo=1", 12, "unknown timechart option 'foo'"),
    ("| timechart count() by a, b", 20, "one field only"),
    ("| head x", 7, "expected a number after 'head', found 'x'"),
    ("| head 5 6", 9, "unexpected '6' after 'head'"),
    ("| top 0 a", 6, "invalid limit '0'"),
    ("| top", 5, "expected a field name after 'top'"),
    ("| sort", 6, "expected a field name after 'sort'"),
    ("| where", 7, "expected a filter after 'where'"),
    ("| where (a", 8, "unclosed '('"),
    ("| fields", 8, "expected a field name after 'fields'"),
    ("a | head 3 )", 11, "unexpected ')'"),
    // NUL and U+0001 are the index's field-path separators (found by fuzzing).
    ("host.8\0:\"LabSZ\"", 6, "control character U+0000"),
    ("a:b | top 3 x\u{1}y", 13, "control character U+0001"),
    ("é\u{7}", 2, "control character U+0007"),
];

#[test]
fn errors_point_at_the_problem() {
    let mut failures = Vec::new();
    for (text, pos, fragment) in ERRORS {
        match parse_at(text, now()) {
            Ok(search) => failures.push(format!("{text:?} parsed as {}", show(&search))),
            Err(e) => {
                if e.position != *pos || !e.message.contains(fragment) {
                    failures.push(format!(
                        "{text:?}: want position {pos} with {fragment:?}\n{}",
                        e.render(text)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for text in [
        "(".repeat(10_000),
        "!".repeat(10_000) + "a",
        "NOT ".repeat(10_000) + "a",
        format!("x:{}", "(".repeat(10_000)),
        "-".repeat(10_000) + "a",
    ] {
        let err = parse_at(&text, now()).expect_err("too deep");
        assert!(err.message.contains("nested too deeply"), "{err}");
    }
    let ok = format!("{}a{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(parse_at(&ok, now()).map(|s| show(&s)), Ok("term(a)".into()));
}

mod fuzz {
    use super::*;
    use crate::exec::{apply_stages, event_row};
    use proptest::prelude::*;
    use rampart_model::{Event, Origin, OriginKind, Raw};

    const TOKENS: &[&str] = &[
        "a",
        "host.name",
        ":",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        " TO ",
        "*",
        "?",
        "\\",
        "/",
        "|",
        " AND ",
        " OR ",
        " NOT ",
        "&&",
        "||",
        "!",
        "-",
        ">",
        ">=",
        "<",
        "=",
        "1",
        "10.0.0.0/8",
        "now-1h",
        " ",
        ",",
        "stats",
        "count()",
        " by ",
        "dc(",
        "top",
        "head",
        "timechart",
        "span=1h",
        "sort",
        "where",
        "fields",
        "é",
        "\t",
        "_exists_",
        "as",
        "2024-01-01",
    ];

    fn sample_event() -> Event {
        let mut ev = Event::new(
            Origin::new(OriginKind::Import, "test"),
            Raw::Text("Failed password for root from 10.0.0.1".into()),
        );
        ev.set("host.name", "web01");
        ev.set("a", serde_json::json!([1, "x", null]));
        ev
    }

    fn exercise(text: &str) {
        match parse_at(text, now()) {
            Ok(search) => {
                let ev = sample_event();
                let hit = crate::eval::matches(&search.filter, &ev);
                let rows = if hit {
                    vec![event_row(&ev)]
                } else {
                    Vec::new()
                };
                let _ = apply_stages(&search.stages, rows);
            }
            Err(e) => {
                assert!(e.position <= text.len(), "{text:?}: {e}");
                let _ = e.render(text);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_strings_never_panic(text in "\\PC{0,40}") {
            exercise(&text);
        }

        #[test]
        fn token_soups_never_panic(picks in proptest::collection::vec(0..TOKENS.len(), 0..25)) {
            let text: String = picks.iter().map(|&i| TOKENS[i]).collect();
            exercise(&text);
        }
    }
}
