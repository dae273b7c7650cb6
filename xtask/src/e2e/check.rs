//! The checks of a run: the console says what the scenario expects of the
//! firmware, and each monitor's live verdict, warning, console message and
//! metric deltas are the expected ones.

use std::{
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use anyhow::Result;

use super::report::{Run, View};
use super::scenarios::{Expect, Watch};
use super::verdict::{Verdict, session, verdict_text};
use crate::{agent::Agent, lab::Firmware, scrape};

/// One live agent of a run.
pub(super) struct Monitor {
    pub(super) watch: Watch,
    pub(super) ns: String,
    pub(super) agent: Agent,
    pub(super) listen: std::net::SocketAddr,
    /// /metrics before the boot.
    pub(super) before: Vec<scrape::Sample>,
    /// The capture taken where it runs.
    pub(super) pcap: PathBuf,
}

/// How long a firmware may take to say how its boot went (EDK2 retries its
/// DISCOVER at 0, 4, 12 and 28 s before giving up).
pub(super) fn console_timeout(fw: Firmware) -> Duration {
    match fw {
        Firmware::Bios => Duration::from_secs(60),
        Firmware::Uefi | Firmware::UefiHttp | Firmware::Uefi6 | Firmware::UefiHttp6 => {
            Duration::from_secs(120)
        }
        // PXE over IPv4 and IPv6 first (a minute with no DHCPv6 server).
        Firmware::UefiChain => Duration::from_secs(180),
    }
}

/// The console says what the scenario expects of this firmware.
pub(super) fn check_console(run: &mut Run, expect: &Expect, fw: Firmware) {
    if run.console.line.is_empty() {
        run.problems.push(format!(
            "the console said nothing decisive within {:?}",
            console_timeout(fw)
        ));
        return;
    }
    if !run.console.line.contains(expect.console) {
        run.problems.push(format!(
            "console {:?}, expected a line with {:?}",
            run.console.line, expect.console
        ));
    }
    let booted_expected = expect.outcome == "booted";
    if run.console.booted != booted_expected {
        run.problems.push(format!(
            "the firmware {} (expected it to {})",
            if run.console.booted {
                "booted"
            } else {
                "did not boot"
            },
            if booted_expected { "boot" } else { "fail" }
        ));
    }
}

/// One monitor's live verdict, warning and metric deltas.
pub(super) fn check_monitor(
    m: &Monitor,
    truth: &Verdict,
    expect: &Expect,
    fw: Firmware,
    console_line: &str,
    deadline: Instant,
    problems: &mut Vec<String>,
) -> Result<View> {
    let mut warnings = Vec::new();
    let mut said_console = None;
    let live = loop {
        if let Some(l) = session(m.listen)? {
            warnings = l.warnings;
            said_console = l.console;
            break Some(l.verdict);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(250));
    };
    let want: Verdict = if m.watch.sees_all {
        truth.clone()
    } else {
        ("unknown".to_owned(), None, String::new())
    };
    let at = m.watch.at.label();
    match &live {
        None => problems.push(format!(
            "{at}: no live verdict within {:?}",
            super::run::verdict_wait(fw)
        )),
        Some(v) if *v != want => problems.push(format!(
            "{at}: live verdict {}, expected {}",
            verdict_text(&live),
            verdict_text(&Some(want.clone()))
        )),
        _ => {}
    }
    // Where pxe-monitor says what the client's screen shows, the screen
    // shows it.
    if let Some(c) = &said_console
        && !console_line.contains(c.trim_end_matches('.'))
    {
        problems.push(format!(
            "{at}: pxe-monitor says the console shows {c:?}, it showed {console_line:?}"
        ));
    }
    if fw.is_uefi() && m.watch.sees_all && want.1.is_some() && said_console.is_none() {
        problems.push(format!(
            "{at}: no console message for the UEFI failure {}",
            verdict_text(&live)
        ));
    }
    if m.watch.sees_all
        && let Some(wanted) = expect.warning
        && !warnings.iter().any(|x| x.contains(wanted))
    {
        problems.push(format!(
            "{at}: no warning with {wanted:?} (warnings: {warnings:?})"
        ));
    }
    let after = m.agent.metrics()?;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        scrape::sum(&after, name, labels) as i64 - scrape::sum(&m.before, name, labels) as i64
    };
    let d = delta("pxe_sessions_total", &[("outcome", &want.0)]);
    if d != 1 {
        problems.push(format!(
            "{at}: pxe_sessions_total{{outcome=\"{}\"}} rose by {d}, expected 1",
            want.0
        ));
    }
    if let Some(code) = &want.1 {
        let d = delta("pxe_boot_failures_total", &[("code", code)]);
        if d != 1 {
            problems.push(format!(
                "{at}: pxe_boot_failures_total{{code=\"{code}\"}} rose by {d}, expected 1"
            ));
        }
    }
    // Each attempt of the boot counted once, the earlier ones as failed
    // under their boot option.
    if m.watch.sees_all {
        let earlier: Vec<&str> = want.2.split(", ").filter(|a| !a.is_empty()).collect();
        // (Those after the verdict's, where the run stopped the client,
        // count too.)
        let d = delta("pxe_boot_attempts_total", &[]);
        if d < 1 + earlier.len() as i64 {
            problems.push(format!(
                "{at}: pxe_boot_attempts_total rose by {d}, expected at least {}",
                1 + earlier.len()
            ));
        }
        for a in earlier {
            let protocol = a.split(' ').next().unwrap_or("");
            let labels = [("protocol", protocol), ("outcome", "failed")];
            if delta("pxe_boot_attempts_total", &labels) < 1 {
                problems.push(format!(
                    "{at}: pxe_boot_attempts_total{{protocol=\"{protocol}\",outcome=\"failed\"}} did not rise"
                ));
            }
        }
    }
    let lost = scrape::sum(&after, "pxe_events_lost_total", &[]);
    if lost != 0 {
        problems.push(format!("{at}: {lost} event(s) lost"));
    }
    Ok(View {
        at: m.watch.at,
        live,
        replay: None,
    })
}
