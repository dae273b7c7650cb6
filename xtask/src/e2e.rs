//! `cargo xtask e2e` and `cargo xtask lab scenario NAME`: each failure mode
//! reproduced live in the lab, with real servers and real BIOS (iPXE) and
//! UEFI (OVMF/EDK2) firmware, pxe-monitor attached to the DHCP server's
//! interface (XDP ingress + TC egress).
//!
//! Every run checks what a user would: the firmware's console says what the
//! scenario expects (so a scenario that stops reproducing its failure is
//! caught); the live verdict at /api/sessions has the expected outcome and
//! code; `pxe_sessions_total` and `pxe_boot_failures_total` moved by one;
//! no event was lost; and `pxe-monitor replay` of the capture taken on the
//! client segment gives the same verdict as the live agent.
//!
//! Each run has its own lab instance (namespaces `pxeN-*`), so runs go side
//! by side (`--jobs`). Captures, consoles, logs and a results table go into
//! the output directory.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    agent::{self, Agent},
    lab::{self, Console, Firmware, Lab},
    proc::processes_using,
    scrape, sys,
};

mod scenarios;
mod storm;

pub use scenarios::{Expect, Placement, SCENARIOS, Scenario, Watch};
use storm::storm_line;
pub use storm::{STORM, STORM_CLIENTS, Storm, storm};

/// Runs at once by default. The long runs wait on firmware timeouts, not on
/// the CPU: on 2 cores a run takes up to 1.5 times as long as alone (healthy
/// UEFI: 13 s against 9 s), the matrix a third.
pub const DEFAULT_JOBS: usize = 4;

/// The client's MAC address in every run (each run has its own segment).
const MAC: &str = lab::CLIENT_MAC;

/// An outcome and its code, as /api/sessions and replay print them.
pub type Verdict = (String, Option<String>);

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

pub struct Options {
    pub scenarios: Vec<String>,
    pub firmware: Vec<Firmware>,
    pub jobs: usize,
    pub out: Option<PathBuf>,
}

/// Runs the matrix (or the named scenarios); prints a table; fails when a
/// run did not show what it should.
pub fn run(opts: Options) -> Result<()> {
    lab::require_root().context("cargo xtask e2e: run it as root (sudo)")?;
    let bin = agent::build_monitor()?;
    let out = match opts.out {
        Some(o) => o,
        None => {
            let runs = agent::workspace_root().join("target/e2e");
            prune(&runs, KEEP_RUNS);
            runs.join(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs()
                    .to_string(),
            )
        }
    };
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = fs::canonicalize(&out)?;
    let firmware = if opts.firmware.is_empty() {
        vec![Firmware::Bios, Firmware::Uefi]
    } else {
        opts.firmware
    };
    for name in &opts.scenarios {
        if name != STORM && !SCENARIOS.iter().any(|s| s.name == name) {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            bail!(
                "no scenario {name:?}; there are: {}, {STORM}",
                names.join(", ")
            );
        }
    }
    let with_storm = opts.scenarios.is_empty() || opts.scenarios.iter().any(|n| n == STORM);
    // UEFI runs first: they take longest.
    let mut queue: VecDeque<(&Scenario, Firmware)> = VecDeque::new();
    for fw in firmware.iter().rev() {
        for s in SCENARIOS {
            if opts.scenarios.is_empty() || opts.scenarios.iter().any(|n| n == s.name) {
                queue.push_back((s, *fw));
            }
        }
    }
    let total = queue.len();
    let jobs = opts.jobs.clamp(1, total.max(1));
    println!(
        "e2e: {total} run(s), {jobs} at a time; output in {}",
        out.display()
    );
    let started = Instant::now();
    let queue = Mutex::new(queue);
    let runs = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for instance in 1..=jobs as u16 {
            let (queue, runs, bin, out) = (&queue, &runs, &bin, &out);
            scope.spawn(move || {
                loop {
                    let Some((s, fw)) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let r = run_one(bin, s, fw, instance, out);
                    println!("{}", line(&r));
                    runs.lock().unwrap().push(r);
                }
            });
        }
    });
    let mut runs = runs.into_inner().unwrap();
    runs.sort_by_key(|r| {
        (
            SCENARIOS.iter().position(|s| s.name == r.scenario),
            r.firmware.label(),
        )
    });
    let storm = with_storm.then(|| {
        let st = storm(&bin, 1, &out, STORM_CLIENTS);
        println!("{}", storm_line(&st));
        st
    });
    let mut table = table(&runs);
    if let Some(st) = &storm {
        let _ = writeln!(table, "\n{}", storm_line(st));
    }
    fs::write(out.join("results.md"), &table)?;
    println!("\n{table}");
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.problems.is_empty()).collect();
    // Nothing of any run is left: each lab removed its namespaces and
    // processes, on failures too.
    let left = lab::leftover_namespaces();
    if !left.is_empty() {
        bail!("namespaces left behind: {}", left.join(", "));
    }
    let left = processes_using(&out);
    if !left.is_empty() {
        let list: Vec<String> = left.iter().map(|(p, c)| format!("{c} (pid {p})")).collect();
        bail!("processes left behind: {}", list.join(", "));
    }
    println!(
        "e2e: {} of {total} run(s) passed in {:.0} s ({jobs} at a time); details in {}",
        total - failed.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if let Some(st) = storm.as_ref().filter(|st| !st.problems.is_empty()) {
        for p in &st.problems {
            eprintln!("FAILED {STORM}: {p}");
        }
        bail!("the boot storm failed");
    }
    if !failed.is_empty() {
        for r in &failed {
            eprintln!("FAILED {} {}:", r.scenario, r.firmware.label());
            for p in &r.problems {
                eprintln!("  - {p}");
            }
        }
        bail!("{} e2e run(s) failed", failed.len());
    }
    Ok(())
}

/// Earlier runs kept in target/e2e (each holds captures of tens of MB).
const KEEP_RUNS: usize = 5;

/// Removes all but the newest `keep - 1` run directories in `dir` (their
/// names are start times), making room for one more.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut runs: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    runs.sort();
    let remove = runs.len().saturating_sub(keep.saturating_sub(1));
    for (_, path) in runs.into_iter().take(remove) {
        let _ = fs::remove_dir_all(path);
    }
}

fn verdict_text(v: &Option<Verdict>) -> String {
    match v {
        None => "none".into(),
        Some((o, Some(c))) => format!("{o} {c}"),
        Some((o, None)) => o.clone(),
    }
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

fn line(r: &Run) -> String {
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

/// How long a firmware may take to say how its boot went (EDK2 retries its
/// DISCOVER at 0, 4, 12 and 28 s before giving up).
fn console_timeout(fw: Firmware) -> Duration {
    match fw {
        Firmware::Bios => Duration::from_secs(60),
        Firmware::Uefi => Duration::from_secs(120),
    }
}

fn run_one(bin: &Path, s: &Scenario, fw: Firmware, instance: u16, out: &Path) -> Run {
    let start = Instant::now();
    let mut run = Run {
        scenario: s.name,
        firmware: fw,
        console: Console {
            booted: false,
            line: String::new(),
        },
        views: Vec::new(),
        segment: None,
        took: Duration::ZERO,
        problems: Vec::new(),
    };
    let dir = out.join(format!("{}-{}", s.name, fw.label()));
    if let Err(e) = drive(bin, s, fw, instance, &dir, &mut run) {
        run.problems.push(format!("{e:#}"));
    }
    run.took = start.elapsed();
    run
}

/// The run itself; `run` collects what it saw (and what did not hold).
fn drive(
    bin: &Path,
    s: &Scenario,
    fw: Firmware,
    instance: u16,
    dir: &Path,
    run: &mut Run,
) -> Result<()> {
    let expect = s.expect(fw);
    fs::create_dir_all(dir)?;
    // Dropping the lab (also on error) stops its processes and deletes its
    // namespaces; dropping an agent kills it.
    let mut lab = Lab::up_with(&dir.join("lab"), instance, s.servers).context("lab up")?;
    let segment_pcap = dir.join("segment.pcap");
    lab.start_capture_on_segment(&segment_pcap)?;
    let mut monitors = Vec::new();
    for (i, w) in s.watch.iter().enumerate() {
        let (ns, ifaces) = w.at.at(&lab);
        let pcap = dir.join(format!("monitor-{i}.pcap"));
        lab.start_capture_on(&pcap, &ns, ifaces)?;
        let listen = agent::free_port()?;
        let more: Vec<&str> = ifaces[1..]
            .iter()
            .flat_map(|i| ["--interface", i])
            .collect();
        let agent = Agent::start_logged(
            bin,
            &ns,
            ifaces[0],
            listen,
            &more,
            &dir.join(format!("pxe-monitor-{i}.log")),
        )?;
        let before = agent.metrics()?;
        monitors.push(Monitor {
            watch: *w,
            ns,
            agent,
            listen,
            before,
            pcap,
        });
    }
    lab.boot(fw, MAC)?;
    let success_line = (expect.outcome == "booted").then_some(expect.console);
    run.console = lab.wait_console(console_timeout(fw), success_line)?;
    // The console decided: let the last packets pass, then stop the client
    // before it tries its next boot option.
    thread::sleep(Duration::from_millis(500));
    lab.stop_client()?;
    let _ = fs::copy(lab.serial_log(), dir.join("console.log"));
    check_console(run, &expect, fw);

    // Each monitor's live verdict: at once on evidence, or after the
    // tracker's timeouts (no answer 10 s, a stalled transfer 30 s).
    let truth: Verdict = (expect.outcome.to_owned(), expect.code.map(str::to_owned));
    let deadline = Instant::now() + Duration::from_secs(40);
    for m in &monitors {
        let view = check_monitor(
            m,
            &truth,
            &expect,
            fw,
            &run.console.line,
            deadline,
            &mut run.problems,
        )?;
        // A frame after the verdict, so that the captures' clock (all that
        // replay knows of time) reaches the moment the agent decided.
        clock_frame(&m.ns, m.watch.at.clock_target())?;
        run.views.push(view);
    }
    for m in &mut monitors {
        m.agent.stop()?;
    }
    lab.stop_capture()?;
    lab.down()?;

    for (view, m) in run.views.iter_mut().zip(&monitors) {
        view.replay = replay(bin, &m.pcap)?;
        if view.replay != view.live {
            run.problems.push(format!(
                "{}: replay of its capture says {}, live said {}",
                view.at.label(),
                verdict_text(&view.replay),
                verdict_text(&view.live)
            ));
        }
    }
    run.segment = replay(bin, &segment_pcap)?;
    if run.segment.as_ref() != Some(&truth) {
        run.problems.push(format!(
            "replay of the segment capture says {}, expected {}",
            verdict_text(&run.segment),
            verdict_text(&Some(truth))
        ));
    }
    Ok(())
}

/// One live agent of a run.
struct Monitor {
    watch: Watch,
    ns: String,
    agent: Agent,
    listen: std::net::SocketAddr,
    /// /metrics before the boot.
    before: Vec<scrape::Sample>,
    /// The capture taken where it runs.
    pcap: PathBuf,
}

/// The console says what the scenario expects of this firmware.
fn check_console(run: &mut Run, expect: &Expect, fw: Firmware) {
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
fn check_monitor(
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
        ("unknown".to_owned(), None)
    };
    let at = m.watch.at.label();
    match &live {
        None => problems.push(format!("{at}: no live verdict within 40 s")),
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
    if fw == Firmware::Uefi && m.watch.sees_all && want.1.is_some() && said_console.is_none() {
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

/// One UDP datagram from `ns` to `to` (its discard port), across the
/// monitored interfaces and into their capture: its clock moves on.
fn clock_frame(ns: &str, to: &str) -> Result<()> {
    let out = sys::netns_command(ns, "bash")
        .args(["-c", &format!("echo clock > /dev/udp/{to}/9")])
        .output()
        .context("sending the clock frame")?;
    if !out.status.success() {
        bail!(
            "sending the clock frame: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn outcome_of(v: &Value) -> Verdict {
    (
        v["outcome"].as_str().unwrap_or("?").to_owned(),
        v["code"].as_str().map(str::to_owned),
    )
}

/// A session at /api/sessions: its verdict, warnings, and what it says the
/// client's console shows.
struct Live {
    verdict: Verdict,
    warnings: Vec<String>,
    console: Option<String>,
}

/// The sessions an agent has decided (its /api/sessions).
fn sessions(listen: std::net::SocketAddr) -> Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)?;
    Ok(match list {
        Value::Array(l) => l,
        _ => Vec::new(),
    })
}

/// The client's session at /api/sessions, if it has a verdict yet.
fn session(listen: std::net::SocketAddr) -> Result<Option<Live>> {
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
fn replay(bin: &Path, pcap: &Path) -> Result<Option<Verdict>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_runs_are_pruned() {
        let dir = std::env::temp_dir().join(format!("pxe-prune-{}", std::process::id()));
        for name in ["100", "200", "300", "400", "500", "600", "700", "notes"] {
            fs::create_dir_all(dir.join(name)).unwrap();
        }
        prune(&dir, 5);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let _ = fs::remove_dir_all(&dir);
        // Room for the run about to start: four kept, and what is not a run.
        assert_eq!(left, ["400", "500", "600", "700", "notes"]);
    }
}
