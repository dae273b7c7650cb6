//! What the xtask tests share: whether a test can run here, and the shipped
//! dashboard's queries.

use std::{
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{agent, sys};

/// Says the test is skipped, and why; with CI=true fails instead (CI must
/// run every test).
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}, and CI=true: the test must run in CI");
    }
    eprintln!("SKIPPED: {why}");
}

/// Polls `f` every 250 ms until it gives `Ok`, or panics after `timeout`
/// with `what` and the last error.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {timeout:?}; last: {last}")
            }
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// The pxe-monitor binary for a test that runs the lab, when it can run:
/// root, and the binary in PXE_MONITOR_BIN (`cargo xtask test` builds it and
/// sets it). Otherwise `None`, after [`skip_or_fail`].
pub fn lab_prerequisites() -> Option<PathBuf> {
    if !sys::is_root() {
        skip_or_fail("the lab needs root (network namespaces, XDP)");
        return None;
    }
    let bin = std::env::var_os("PXE_MONITOR_BIN").map(PathBuf::from);
    if bin.is_none() {
        skip_or_fail("PXE_MONITOR_BIN is not set (run through `cargo xtask test`)");
    }
    bin
}

/// Each panel query of the shipped dashboard, its Grafana variables
/// replaced in the order given: (panel title, PromQL).
pub fn panel_queries(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let path = agent::workspace_root().join("dashboards/grafana/pxe-monitor.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = vars
                .iter()
                .fold(t["expr"].as_str().unwrap().to_owned(), |e, (var, value)| {
                    e.replace(var, value)
                });
            out.push((p["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    out
}
