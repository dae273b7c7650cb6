//! One run of the matrix: a scenario with one firmware in its own lab
//! instance, the monitors attached, the client booted, the checks made and
//! the captures replayed.

use std::{
    fs,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::check::{Monitor, check_console, check_monitor, console_timeout};
use super::report::Run;
use super::scenarios::Scenario;
use super::verdict::{MAC, Verdict, replay, verdict_text};
use crate::{
    agent::{self, Agent},
    lab::{Console, Firmware, Lab},
    sys,
};

pub(super) fn run_one(bin: &Path, s: &Scenario, fw: Firmware, instance: u16, out: &Path) -> Run {
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
    let Some(expect) = s.expect(fw) else {
        anyhow::bail!("scenario {} does not run with {}", s.name, fw.label());
    };
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
    // tracker's timeouts (`verdict_wait`).
    let truth: Verdict = (
        expect.outcome.to_owned(),
        expect.code.map(str::to_owned),
        expect.attempts.to_owned(),
    );
    let deadline = Instant::now() + verdict_wait(fw);
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

/// How long a monitor's live verdict may take once the console decided:
/// the tracker's timeouts (no answer 10 s, a stalled transfer 30 s). OVMF
/// starts its next boot option within milliseconds of a failure (PXE over
/// IPv6 after IPv4, measured: 32 ms), before the run stops it: the boot
/// goes on in that attempt, which ends at its no-offer timeout (60 s), and
/// a UEFI failure waits the settle time (15 s) after it.
pub(super) fn verdict_wait(fw: Firmware) -> Duration {
    if fw.is_uefi() {
        Duration::from_secs(100)
    } else {
        Duration::from_secs(40)
    }
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
