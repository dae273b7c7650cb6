//! What pxe-monitor says of the client: the verdict (outcome and code) of
//! its session at a live agent's /api/sessions, with the warnings and the
//! console message, and the verdict of `pxe-monitor replay` of a capture.

use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{lab, scrape};

/// The client's MAC address in every run (each run has its own segment).
pub(super) const MAC: &str = lab::CLIENT_MAC;

/// An outcome, its code, and the boot's attempts before the verdict's (`protocol code`
/// or `protocol outcome`, comma-separated), as /api/sessions and replay
/// print them.
pub type Verdict = (String, Option<String>, String);

pub(super) fn verdict_text(v: &Option<Verdict>) -> String {
    let Some((o, code, attempts)) = v else {
        return "none".into();
    };
    let mut t = match code {
        Some(c) => format!("{o} {c}"),
        None => o.clone(),
    };
    if !attempts.is_empty() {
        t += &format!(" after {attempts}");
    }
    t
}

fn outcome_of(v: &Value) -> Verdict {
    // The attempts before the verdict's: those after it are where the run
    // stopped the client (it goes on to its next boot option).
    let attempts: Vec<String> = v["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["when"] == "before")
        .map(|a| {
            let how = a["code"].as_str().or(a["outcome"].as_str()).unwrap_or("?");
            format!("{} {how}", a["protocol"].as_str().unwrap_or("?"))
        })
        .collect();
    (
        v["outcome"].as_str().unwrap_or("?").to_owned(),
        v["code"].as_str().map(str::to_owned),
        attempts.join(", "),
    )
}

/// A session at /api/sessions: its verdict, warnings, and what it says the
/// client's console shows.
pub(super) struct Live {
    pub(super) verdict: Verdict,
    pub(super) warnings: Vec<String>,
    pub(super) console: Option<String>,
}

/// The sessions an agent has decided (its /api/sessions).
pub(super) fn sessions(listen: std::net::SocketAddr) -> Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)?;
    Ok(match list {
        Value::Array(l) => l,
        _ => Vec::new(),
    })
}

/// The client's session at /api/sessions, if it has a verdict yet.
pub(super) fn session(listen: std::net::SocketAddr) -> Result<Option<Live>> {
    Ok(sessions(listen)?
        .iter()
        .find(|s| s["client_mac"] == MAC)
        .map(|s| {
            let w = s["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect();
            Live {
                verdict: outcome_of(s),
                warnings: w,
                console: s["console"].as_str().map(str::to_owned),
            }
        }))
}

/// The client's verdict from `pxe-monitor replay --format json`.
pub(super) fn replay(bin: &Path, pcap: &Path) -> Result<Option<Verdict>> {
    let out = Command::new(bin)
        .args(["replay", "--format", "json"])
        .arg(pcap)
        .output()
        .context("running pxe-monitor replay")?;
    if !out.status.success() {
        bail!(
            "pxe-monitor replay {}: {}",
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(l)?;
        if v["client_mac"] == MAC {
            return Ok(Some(outcome_of(&v)));
        }
    }
    Ok(None)
}
