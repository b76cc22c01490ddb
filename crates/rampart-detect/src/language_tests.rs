//! Data-driven tests of the Sigma detection language as the engine evaluates it: every modifier and condition form, tricky cases included.

use crate::{
    Document, Engine, FieldKey, FieldRef, LoadOptions, Mappings, Matches, Routing, RuleSet,
};
use serde_json::{Value, json};

/// A document that does not expose its JSON object, so that the engine reads it through
/// per-field lookups instead of its one-pass resolution.
struct Opaque<'a>(&'a Value);

impl Document for Opaque<'_> {
    fn field(&self, key: &FieldKey) -> FieldRef<'_> {
        self.0.field(key)
    }

    fn for_each_string(&self, f: &mut dyn FnMut(&str)) {
        self.0.for_each_string(f);
    }
}

/// Compile `detection` (the YAML body under `detection:`) and match it against `event`.
fn matches(detection: &str, event: &Value, opts: &LoadOptions) -> Result<bool, String> {
    let body: String = detection.lines().map(|l| format!("  {l}\n")).collect();
    let yaml = format!("title: t\nid: t\nlogsource: {{product: test}}\ndetection:\n{body}");
    let (rules, diags) = RuleSet::from_yaml_str(&yaml, "case", opts);
    if let Some(d) = diags.first() {
        return Err(d.to_string());
    }
    let engine = Engine::with_routing(&rules, &Mappings::builtin(), Routing::AllRules);
    let mut m = Matches::new();
    engine.evaluate(event, &mut m);
    let mut opaque = Matches::new();
    engine.evaluate(&Opaque(event), &mut opaque);
    assert_eq!(
        m.rules(),
        opaque.rules(),
        "one-pass and per-field resolution differ on {event}"
    );
    Ok(!m.is_empty())
}

fn run(cases: &[(&str, Value, bool)]) {
    run_with(cases, &LoadOptions::default());
}

fn run_with(cases: &[(&str, Value, bool)], opts: &LoadOptions) {
    for (detection, event, want) in cases {
        match matches(detection, event, opts) {
            Ok(got) => assert_eq!(got, *want, "\n{detection}\nevent {event}"),
            Err(e) => panic!("{detection}: {e}"),
        }
    }
}

#[test]
fn maps_lists_and_values() {
    let and = "sel: {A: x, B: y}\ncondition: sel";
    let or_maps = "sel:\n  - A: x\n  - B: y\ncondition: sel";
    let or_values = "sel: {A: [x, y]}\ncondition: sel";
    run(&[
        (and, json!({"A": "x", "B": "y"}), true),
        (and, json!({"A": "x", "B": "z"}), false),
        (and, json!({"A": "x"}), false),
        (or_maps, json!({"B": "y"}), true),
        (or_maps, json!({"A": "y"}), false),
        (or_values, json!({"A": "y"}), true),
        (or_values, json!({"A": "xy"}), false),
        // A list field matches when any member does.
        (or_values, json!({"A": ["q", "x"]}), true),
        // Nested fields by dotted path, flat keys first.
        (
            "sel: {process.name: x}\ncondition: sel",
            json!({"process": {"name": "X"}}),
            true,
        ),
        (
            "sel: {process.name: x}\ncondition: sel",
            json!({"process.name": "x"}),
            true,
        ),
    ]);
}

#[test]
fn string_matching() {
    run(&[
        // Case-insensitive by default, |cased opts out.
        (
            "sel: {A: Whoami}\ncondition: sel",
            json!({"A": "WHOAMI"}),
            true,
        ),
        (
            "sel: {A|cased: Whoami}\ncondition: sel",
            json!({"A": "WHOAMI"}),
            false,
        ),
        (
            "sel: {A|cased: Whoami}\ncondition: sel",
            json!({"A": "Whoami"}),
            true,
        ),
        (
            "sel: {A|contains|cased: Who}\ncondition: sel",
            json!({"A": "xwho"}),
            false,
        ),
        (
            "sel: {A|contains: who}\ncondition: sel",
            json!({"A": "cmd /c WHOAMI"}),
            true,
        ),
        (
            "sel: {A|startswith: cmd}\ncondition: sel",
            json!({"A": "CMD.exe"}),
            true,
        ),
        (
            "sel: {A|startswith: cmd}\ncondition: sel",
            json!({"A": "x cmd"}),
            false,
        ),
        (
            "sel: {A|endswith: '\\cmd.exe'}\ncondition: sel",
            json!({"A": "C:\\Windows\\CMD.EXE"}),
            true,
        ),
        (
            "sel: {A|endswith: '\\cmd.exe'}\ncondition: sel",
            json!({"A": "C:\\cmd.exe.bak"}),
            false,
        ),
        // Exact means the whole value.
        (
            "sel: {A: cmd}\ncondition: sel",
            json!({"A": "cmd.exe"}),
            false,
        ),
        // Non-ASCII text folds case too.
        (
            "sel: {A|contains: 'ÉTÉ'}\ncondition: sel",
            json!({"A": "un été"}),
            true,
        ),
        (
            "sel: {A: 'Ärger'}\ncondition: sel",
            json!({"A": "ärger"}),
            true,
        ),
        // contains|all: every value.
        (
            "sel: {A|contains|all: [foo, bar]}\ncondition: sel",
            json!({"A": "bar-foo"}),
            true,
        ),
        (
            "sel: {A|contains|all: [foo, bar]}\ncondition: sel",
            json!({"A": "foo"}),
            false,
        ),
        (
            "sel: {A|contains|all: [foo, bar]}\ncondition: sel",
            json!({"A": ["foo", "bar"]}),
            true,
        ),
    ]);
}

#[test]
fn wildcards_and_escapes() {
    run(&[
        ("sel: {A: 'c*d'}\ncondition: sel", json!({"A": "cmd"}), true),
        (
            "sel: {A: 'c*d'}\ncondition: sel",
            json!({"A": "cmdx"}),
            false,
        ),
        ("sel: {A: 'c?d'}\ncondition: sel", json!({"A": "cmd"}), true),
        (
            "sel: {A: 'c?d'}\ncondition: sel",
            json!({"A": "cmmd"}),
            false,
        ),
        (
            "sel: {A: '*\\cmd.exe'}\ncondition: sel",
            json!({"A": "C:\\x\\Cmd.exe"}),
            true,
        ),
        // `*` spans line breaks (script blocks are multi-line).
        (
            "sel: {A: 'a*b'}\ncondition: sel",
            json!({"A": "a\nb"}),
            true,
        ),
        // Escaped wildcards are literal.
        (
            "sel: {A: 'what\\?'}\ncondition: sel",
            json!({"A": "what?"}),
            true,
        ),
        (
            "sel: {A: 'what\\?'}\ncondition: sel",
            json!({"A": "whatx"}),
            false,
        ),
        (
            "sel: {A: 'a\\*b'}\ncondition: sel",
            json!({"A": "a*b"}),
            true,
        ),
        (
            "sel: {A: 'a\\*b'}\ncondition: sel",
            json!({"A": "axxb"}),
            false,
        ),
        // A backslash before another character stays a backslash.
        (
            "sel: {A: 'C:\\Windows'}\ncondition: sel",
            json!({"A": "c:\\windows"}),
            true,
        ),
        (
            "sel: {A|contains: 'x*y'}\ncondition: sel",
            json!({"A": "0x12y3"}),
            true,
        ),
        (
            "sel: {A|startswith: 'x?y'}\ncondition: sel",
            json!({"A": "x1y...."}),
            true,
        ),
    ]);
}

#[test]
fn numbers_bools_null_exists() {
    run(&[
        // EventID 4688 (a number) and "4688" (a string) match numbers and strings.
        (
            "sel: {EventID: 4688}\ncondition: sel",
            json!({"EventID": 4688}),
            true,
        ),
        (
            "sel: {EventID: 4688}\ncondition: sel",
            json!({"EventID": "4688"}),
            true,
        ),
        (
            "sel: {EventID: '4688'}\ncondition: sel",
            json!({"EventID": 4688}),
            true,
        ),
        (
            "sel: {EventID: '4688'}\ncondition: sel",
            json!({"EventID": "4688"}),
            true,
        ),
        (
            "sel: {EventID: 4688}\ncondition: sel",
            json!({"EventID": 46880}),
            false,
        ),
        (
            "sel: {EventID: [1, 4688]}\ncondition: sel",
            json!({"EventID": 1}),
            true,
        ),
        (
            "sel: {EventID|startswith: 46}\ncondition: sel",
            json!({"EventID": 4688}),
            true,
        ),
        ("sel: {A: true}\ncondition: sel", json!({"A": true}), true),
        ("sel: {A: true}\ncondition: sel", json!({"A": "True"}), true),
        ("sel: {A: true}\ncondition: sel", json!({"A": false}), false),
        // null: absent or null.
        ("sel: {A: null}\ncondition: sel", json!({}), true),
        ("sel: {A: null}\ncondition: sel", json!({"A": null}), true),
        ("sel: {A: null}\ncondition: sel", json!({"A": ""}), false),
        ("sel: {A: [null, x]}\ncondition: sel", json!({}), true),
        (
            "sel: {A|exists: true}\ncondition: sel",
            json!({"A": ""}),
            true,
        ),
        (
            "sel: {A|exists: true}\ncondition: sel",
            json!({"A": null}),
            false,
        ),
        (
            "sel: {A|exists: false}\ncondition: sel",
            json!({"B": 1}),
            true,
        ),
        (
            "sel: {A|exists: false}\ncondition: sel",
            json!({"A": 1}),
            false,
        ),
        ("sel: {A|gt: 10}\ncondition: sel", json!({"A": 11}), true),
        ("sel: {A|gt: 10}\ncondition: sel", json!({"A": 10}), false),
        ("sel: {A|gte: 10}\ncondition: sel", json!({"A": "10"}), true),
        ("sel: {A|lt: 10}\ncondition: sel", json!({"A": 9.5}), true),
        (
            "sel: {A|lte: 10}\ncondition: sel",
            json!({"A": 10.5}),
            false,
        ),
        (
            "sel: {A|lt: 10}\ncondition: sel",
            json!({"A": "abc"}),
            false,
        ),
        ("sel: {A|neq: x}\ncondition: sel", json!({"A": "y"}), true),
        ("sel: {A|neq: x}\ncondition: sel", json!({"A": "X"}), false),
        (
            "sel: {A|neq: [x, y]}\ncondition: sel",
            json!({"A": "y"}),
            false,
        ),
        // |neq needs the field.
        ("sel: {A|neq: x}\ncondition: sel", json!({}), false),
    ]);
}

#[test]
fn regex_cidr_fieldref_time() {
    run(&[
        (
            "sel: {A|re: '^a.c$'}\ncondition: sel",
            json!({"A": "abc"}),
            true,
        ),
        (
            "sel: {A|re: '^a.c$'}\ncondition: sel",
            json!({"A": "ABC"}),
            false,
        ),
        (
            "sel: {A|re|i: '^a.c$'}\ncondition: sel",
            json!({"A": "ABC"}),
            true,
        ),
        (
            "sel: {A|re|m: '^b$'}\ncondition: sel",
            json!({"A": "a\nb\nc"}),
            true,
        ),
        (
            "sel: {A|re: '^b$'}\ncondition: sel",
            json!({"A": "a\nb\nc"}),
            false,
        ),
        (
            "sel: {A|re|s: 'a.b'}\ncondition: sel",
            json!({"A": "a\nb"}),
            true,
        ),
        (
            "sel: {A|re: 'a.b'}\ncondition: sel",
            json!({"A": "a\nb"}),
            false,
        ),
        (
            "sel: {A|re: '\\d{4}'}\ncondition: sel",
            json!({"A": 4688}),
            true,
        ),
        (
            "sel: {A|cidr: 10.0.0.0/8}\ncondition: sel",
            json!({"A": "10.1.2.3"}),
            true,
        ),
        (
            "sel: {A|cidr: 10.0.0.0/8}\ncondition: sel",
            json!({"A": "11.1.2.3"}),
            false,
        ),
        (
            "sel: {A|cidr: [192.168.0.0/16, 'fe80::/10']}\ncondition: sel",
            json!({"A": "fe80::1"}),
            true,
        ),
        (
            "sel: {A|cidr: 10.0.0.0/8}\ncondition: sel",
            json!({"A": "not an ip"}),
            false,
        ),
        (
            "sel: {A|fieldref: B}\ncondition: sel",
            json!({"A": "Bob", "B": "bob"}),
            true,
        ),
        (
            "sel: {A|fieldref: B}\ncondition: sel",
            json!({"A": "Bob", "B": "alice"}),
            false,
        ),
        (
            "sel: {A|fieldref: B}\ncondition: sel",
            json!({"A": "Bob"}),
            false,
        ),
        (
            "sel: {A|fieldref|contains: B}\ncondition: sel",
            json!({"A": "x-bob-y", "B": "BOB"}),
            true,
        ),
        (
            "sel: {A|fieldref|cased: B}\ncondition: sel",
            json!({"A": "Bob", "B": "bob"}),
            false,
        ),
        (
            "sel: {A|fieldref: B}\ncondition: sel",
            json!({"A": 5, "B": 5}),
            true,
        ),
        (
            "sel: {T|hour: 7}\ncondition: sel",
            json!({"T": "2024-03-05T07:08:09Z"}),
            true,
        ),
        (
            "sel: {T|minute: 8}\ncondition: sel",
            json!({"T": "2024-03-05T07:08:09Z"}),
            true,
        ),
        (
            "sel: {T|day: 5}\ncondition: sel",
            json!({"T": "2024-03-05T07:08:09Z"}),
            true,
        ),
        (
            "sel: {T|week: 10}\ncondition: sel",
            json!({"T": "2024-03-05T07:08:09Z"}),
            true,
        ),
        (
            "sel: {T|month: 4}\ncondition: sel",
            json!({"T": "2024-03-05T07:08:09Z"}),
            false,
        ),
        (
            "sel: {T|year: 2024}\ncondition: sel",
            json!({"T": "2024-03-05 07:08:09"}),
            true,
        ),
    ]);
}

#[test]
fn encodings() {
    use base64::Engine as _;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let wide = |s: &str| {
        s.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
    };
    run(&[
        (
            "sel: {A|base64: 'http://'}\ncondition: sel",
            json!({"A": "aHR0cDovLw=="}),
            true,
        ),
        (
            "sel: {A|base64|contains: 'http://'}\ncondition: sel",
            json!({"A": "x aHR0cDovLw== y"}),
            true,
        ),
        // base64offset finds the value at every alignment inside longer encoded text.
        (
            "sel: {A|base64offset|contains: 'IEX'}\ncondition: sel",
            json!({"A": b64(b"IEX (New-Object)")}),
            true,
        ),
        (
            "sel: {A|base64offset|contains: 'IEX'}\ncondition: sel",
            json!({"A": b64(b"aIEX (New-Object)")}),
            true,
        ),
        (
            "sel: {A|base64offset|contains: 'IEX'}\ncondition: sel",
            json!({"A": b64(b"abIEX (New-Object)")}),
            true,
        ),
        (
            "sel: {A|base64offset|contains: 'IEX'}\ncondition: sel",
            json!({"A": b64(b"abXYZ (New-Object)")}),
            false,
        ),
        // UTF-16LE then base64, as PowerShell -EncodedCommand carries it.
        (
            "sel: {A|wide|base64offset|contains: 'Invoke'}\ncondition: sel",
            json!({"A": b64(&wide("x; Invoke-Expression"))}),
            true,
        ),
        (
            "sel: {A|utf16le|base64offset|contains: 'Invoke'}\ncondition: sel",
            json!({"A": b64(&wide("xy; Invoke-Expression"))}),
            true,
        ),
        (
            "sel: {A|utf16be|base64|contains: 'ab'}\ncondition: sel",
            json!({"A": b64(&[0, b'a', 0, b'b'])}),
            true,
        ),
        (
            "sel: {A|utf16|base64|contains: 'ab'}\ncondition: sel",
            json!({"A": b64(&[0xFF, 0xFE, b'a', 0, b'b', 0])}),
            true,
        ),
        // windash: -, /, en dash, em dash, horizontal bar.
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p /enc x"}),
            true,
        ),
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p \u{2013}enc x"}),
            true,
        ),
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p \u{2014}enc x"}),
            true,
        ),
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p \u{2015}EnC x"}),
            true,
        ),
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p -enc x"}),
            true,
        ),
        (
            "sel: {A|windash|contains: ' -enc '}\ncondition: sel",
            json!({"A": "p +enc x"}),
            false,
        ),
        (
            "sel: {A|windash|contains|all: [' -a ', ' -b ']}\ncondition: sel",
            json!({"A": "x /a /b "}),
            true,
        ),
        (
            "sel: {A|windash|contains|all: [' -a ', ' -b ']}\ncondition: sel",
            json!({"A": "x /a "}),
            false,
        ),
        (
            "sel: {A|windash: '-k*'}\ncondition: sel",
            json!({"A": "/kill"}),
            true,
        ),
    ]);
}

#[test]
fn keywords() {
    run(&[
        (
            "keywords: [mimikatz, 'sekurlsa::*']\ncondition: keywords",
            json!({"a": {"b": ["x MIMIKATZ"]}}),
            true,
        ),
        (
            "keywords: [mimikatz, 'sekurlsa::*']\ncondition: keywords",
            json!({"m": "run sekurlsa::logonpasswords"}),
            true,
        ),
        (
            "keywords: [mimikatz]\ncondition: keywords",
            json!({"m": "nothing", "n": 1}),
            false,
        ),
        (
            "keywords: [4688]\ncondition: keywords",
            json!({"m": "id 4688 seen"}),
            true,
        ),
        (
            "keywords: ['a*b']\ncondition: keywords",
            json!({"m": "xxaYYbzz"}),
            true,
        ),
        (
            "keywords: [x]\nsel: {A: y}\ncondition: keywords and not sel",
            json!({"m": "x", "A": "y"}),
            false,
        ),
        (
            "keywords: [x]\nsel: {A: y}\ncondition: keywords and not sel",
            json!({"m": "x", "A": "z"}),
            true,
        ),
    ]);
}

#[test]
fn conditions() {
    let dets = "sel_a: {A: 1}\nsel_b: {B: 1}\nfilter: {C: 1}\n";
    let c = |cond: &str| format!("{dets}condition: {cond}");
    let cases: Vec<(String, Value, bool)> = vec![
        (c("sel_a and sel_b"), json!({"A": 1, "B": 1}), true),
        (c("sel_a and sel_b"), json!({"A": 1}), false),
        (c("sel_a or sel_b"), json!({"B": 1}), true),
        (c("sel_a and not filter"), json!({"A": 1, "C": 1}), false),
        (c("sel_a and not filter"), json!({"A": 1}), true),
        (c("(sel_a or sel_b) and not filter"), json!({"B": 1}), true),
        (c("sel_a or sel_b and filter"), json!({"A": 1}), true),
        (c("not (sel_a or sel_b)"), json!({"D": 1}), true),
        (c("1 of sel_*"), json!({"B": 1}), true),
        (c("all of sel_*"), json!({"B": 1}), false),
        (c("all of sel_*"), json!({"A": 1, "B": 1}), true),
        (c("1 of them"), json!({"C": 1}), true),
        (c("all of them"), json!({"A": 1, "B": 1}), false),
        (c("all of them"), json!({"A": 1, "B": 1, "C": 1}), true),
        (
            c("1 of sel_* and not 1 of filter*"),
            json!({"A": 1, "C": 1}),
            false,
        ),
        // A rule that holds with nothing present is evaluated on every event.
        (c("not filter"), json!({"X": 1}), true),
        (c("not 1 of them"), json!({}), true),
        // Several conditions are alternatives.
        (
            format!("{dets}condition: [sel_a, sel_b]"),
            json!({"B": 1}),
            true,
        ),
    ];
    let cases: Vec<(&str, Value, bool)> = cases
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.clone(), *c))
        .collect();
    run(&cases);
}

#[test]
fn expand_uses_configured_placeholders() {
    let mut opts = LoadOptions::default();
    opts.placeholders
        .insert("admins".into(), vec!["root".into(), "admin".into()]);
    run_with(
        &[
            (
                "sel: {User|expand: '%admins%'}\ncondition: sel",
                json!({"User": "Admin"}),
                true,
            ),
            (
                "sel: {User|expand: '%admins%'}\ncondition: sel",
                json!({"User": "bob"}),
                false,
            ),
        ],
        &opts,
    );
    let err = matches(
        "sel: {User|expand: '%nobody%'}\ncondition: sel",
        &json!({}),
        &LoadOptions::default(),
    );
    assert!(err.is_err_and(|e| e.contains("placeholder %nobody%")));
}

#[test]
fn invalid_rules_are_diagnosed() {
    let cases: &[(&str, &str)] = &[
        (
            "sel: {A|contains|startswith: x}\ncondition: sel",
            "modifier",
        ),
        ("sel: {A|re: '('}\ncondition: sel", "regex"),
        ("sel: {A|cidr: 'nope'}\ncondition: sel", "value"),
        ("sel: {A|gt: abc}\ncondition: sel", "value"),
        ("sel: {A|all: x}\ncondition: sel", "modifier"),
        ("sel: {A: x}\ncondition: other", "condition"),
        ("sel: {A|i: x}\ncondition: sel", "modifier"),
    ];
    for (det, category) in cases {
        let body: String = det.lines().map(|l| format!("  {l}\n")).collect();
        let yaml = format!(
            "title: bad\nlogsource: {{product: test}}\ndetection:\n{body}---\ntitle: good\nlogsource: {{product: test}}\ndetection: {{s: {{A: 1}}, condition: s}}\n"
        );
        let (rules, diags) = RuleSet::from_yaml_str(&yaml, "case.yml", &LoadOptions::default());
        assert_eq!(rules.len(), 1, "{det}: the good rule still loads");
        assert_eq!(diags.len(), 1, "{det}: {diags:?}");
        assert_eq!(diags[0].category, *category, "{det}: {}", diags[0]);
        assert_eq!(diags[0].rule.as_deref(), Some("bad"));
    }
}

#[test]
fn metadata_and_filters() {
    let yaml = r#"
title: Susp Whoami
id: 11111111-1111-1111-1111-111111111111
status: test
level: high
description: d
author: me
date: 2024-01-01
modified: 2024-02-01
references: [https://example.invalid]
tags: [attack.discovery, attack.t1033, attack.defense_evasion, attack.t1059.001, car.2016-03-001]
falsepositives: [admins]
fields: [CommandLine]
related: [{id: 22222222-2222-2222-2222-222222222222, type: derived}]
logsource: {category: process_creation, product: windows}
detection:
  sel: {CommandLine|contains: whoami}
  condition: sel
---
title: Not on DCs
filter:
  rules: [11111111-1111-1111-1111-111111111111]
  selection: {Computer|startswith: DC}
  condition: not selection
logsource: {category: process_creation, product: windows}
"#;
    let (rules, diags) = RuleSet::from_yaml_str(yaml, "m.yml", &LoadOptions::default());
    assert!(diags.is_empty(), "{diags:?}");
    let meta = rules.rules().next().cloned().unwrap_or_default();
    assert_eq!(meta.level.as_deref(), Some("high"));
    assert_eq!(meta.status.as_deref(), Some("test"));
    assert_eq!(meta.tactics, ["discovery", "defense-evasion"]);
    assert_eq!(meta.techniques, ["T1033", "T1059.001"]);
    assert_eq!(meta.related[0].kind, "derived");
    assert_eq!(meta.logsource.category.as_deref(), Some("process_creation"));
    assert_eq!(meta.date.as_deref(), Some("2024-01-01"));
    assert_eq!(rules.filters()[0].applied_to, 1);
    let engine = Engine::new(&rules, &Mappings::builtin());
    let ev = |computer: &str| {
        json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
            "Computer": computer}, "EventData": {"CommandLine": "whoami /all"}}})
    };
    let mut m = Matches::new();
    engine.evaluate(&ev("WS1"), &mut m);
    assert_eq!(m.rules(), [0]);
    engine.evaluate(&ev("DC01"), &mut m);
    assert!(m.is_empty());
}

#[test]
fn routing_by_logsource() {
    let yaml = "title: pc\nlogsource: {category: process_creation, product: windows}\n\
        detection: {sel: {Image|endswith: '\\cmd.exe'}, condition: sel}\n---\n\
        title: sec\nlogsource: {service: security, product: windows}\n\
        detection: {sel: {EventID: 4688}, condition: sel}\n";
    let (rules, _) = RuleSet::from_yaml_str(yaml, "r.yml", &LoadOptions::default());
    let engine = Engine::new(&rules, &Mappings::builtin());
    let ev = |channel: &str, id: u64, data: Value| json!({"Event": {"System": {"Channel": channel, "EventID": id}, "EventData": data}});
    let cases: &[(Value, &[u32])] = &[
        (
            ev(
                "Microsoft-Windows-Sysmon/Operational",
                1,
                json!({"Image": "C:\\cmd.exe"}),
            ),
            &[0],
        ),
        // Same field, other Sysmon event: not a process creation.
        (
            ev(
                "Microsoft-Windows-Sysmon/Operational",
                10,
                json!({"Image": "C:\\cmd.exe"}),
            ),
            &[],
        ),
        // Security 4688: NewProcessName is Sigma's Image.
        (
            ev("Security", 4688, json!({"NewProcessName": "C:\\cmd.exe"})),
            &[0, 1],
        ),
        (ev("Security", 4624, json!({})), &[]),
    ];
    let mut m = Matches::new();
    for (doc, want) in cases {
        engine.evaluate(doc, &mut m);
        assert_eq!(m.rules(), *want, "{doc}");
    }
    // The same through a rampart_model::Event.
    let mut event = rampart_model::Event::new(
        rampart_model::Origin::new(rampart_model::OriginKind::Demo, "t"),
        rampart_model::Raw::default(),
    );
    if let Value::Object(f) = &cases[0].0 {
        event.fields = f.clone();
    }
    engine.evaluate(&event, &mut m);
    assert_eq!(m.rules(), [0]);
}
