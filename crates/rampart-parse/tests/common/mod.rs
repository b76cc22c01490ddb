//! Helpers shared by the integration tests: locating the shared corpora.

use std::path::PathBuf;

/// `<repo>/../shared/datasets/<rel>`, or `None` (after printing SKIPPED) when the shared
/// corpora are not present. With `RAMPART_REQUIRE_SHARED=1` a missing corpus fails the test.
pub fn shared_dataset(rel: &str, what: &str) -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets"
    ))
    .join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("RAMPART_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "{what}: {} not present and RAMPART_REQUIRE_SHARED=1",
            path.display()
        );
    }
    println!("SKIPPED: {what} (../shared not present)");
    None
}

/// Every `.evtx` file under `dir`, sorted.
#[allow(dead_code)]
pub fn evtx_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
