//! What a run showed ([`Run`], a [`View`] per monitor) and how it is told:
//! a line per run as it ends, and the Markdown table of all runs.

use std::{fmt::Write as _, time::Duration};

use super::scenarios::Placement;
use super::verdict::{Verdict, verdict_text};
use crate::lab::{Console, Firmware};

/// What one monitor said.
pub struct View {
    pub at: Placement,
    pub live: Option<Verdict>,
    /// `pxe-monitor replay` of a capture taken where the monitor runs.
    pub replay: Option<Verdict>,
}

/// What one run showed.
pub struct Run {
    pub scenario: &'static str,
    pub firmware: Firmware,
    pub console: Console,
    pub views: Vec<View>,
    /// `pxe-monitor replay` of the capture taken on the client segment.
    pub segment: Option<Verdict>,
    pub took: Duration,
    /// What did not hold; empty when the run passed.
    pub problems: Vec<String>,
}

/// The live verdicts, each after the first with where it was taken.
fn views_text(r: &Run) -> String {
    r.views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i == 0 {
                verdict_text(&v.live)
            } else {
                format!("{} ({})", verdict_text(&v.live), v.at.label())
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn line(r: &Run) -> String {
    format!(
        "{} {:<26} {:<4} console: {:<45} live: {:<14} segment replay: {:<14} {:>4.0} s",
        if r.problems.is_empty() {
            "ok  "
        } else {
            "FAIL"
        },
        r.scenario,
        r.firmware.label(),
        format!("{:?}", r.console.line),
        views_text(r),
        verdict_text(&r.segment),
        r.took.as_secs_f64()
    )
}

/// The results as a Markdown table (also written to results.md).
pub fn table(runs: &[Run]) -> String {
    let mut t = String::from(
        "| scenario | firmware | console said | pxe-monitor live | replay of the segment capture | time | result |\n\
         |---|---|---|---|---|---:|---|\n",
    );
    for r in runs {
        let _ = writeln!(
            t,
            "| {} | {} | `{}` | {} | {} | {:.0} s | {} |",
            r.scenario,
            r.firmware.label(),
            r.console.line.replace('|', "\\|"),
            views_text(r),
            verdict_text(&r.segment),
            r.took.as_secs_f64(),
            if r.problems.is_empty() {
                "ok".to_owned()
            } else {
                r.problems.join("; ").replace('|', "\\|")
            }
        );
    }
    t
}
