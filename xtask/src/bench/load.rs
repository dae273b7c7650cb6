//! `cargo xtask bench storm` and `bench flood`: planted traffic through a
//! live agent on the bench's veth pair (the sender writes every frame of
//! both sides onto the sending end; the agent watches the receiving end
//! with its defaults). The storm: 10,000 PXE clients within 10 s, each with
//! its planted outcome, which the agent must give every one of them. The
//! flood: 1,000,000 forged DISCOVERs as fast as the sender goes, with real
//! boots in it; the agent's RSS and scrape latency sampled throughout.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{Namespaces, RECEIVER_NS, RX_IF, SENDER_NS, TX_IF, setup};
use crate::{
    agent::{self, Agent},
    planted::{expected, sessions, wrong},
    scrape,
};

const STORM_CLIENTS: u32 = 10_000;
const STORM_SECONDS: u32 = 10;
const FLOOD_DISCOVERS: u64 = 1_000_000;
const FLOOD_BOOTS: u64 = 10;

/// Runs the sender to the end; what it printed.
fn send(sender: &Path, kind: &str, n: u64, m: u64, expected: &Path) -> Result<String> {
    let out = Command::new(sender)
        .arg(kind)
        .arg(n.to_string())
        .arg(m.to_string())
        .args([SENDER_NS, TX_IF])
        .arg(expected)
        .output()
        .context("running bench_traffic")?;
    if !out.status.success() {
        bail!("bench_traffic: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What both runs start from: the agent and the sender built, the bench's
/// namespaces (removed when dropped), and where the files go.
struct Prepared {
    bin: PathBuf,
    sender: PathBuf,
    _ns: Namespaces,
    dir: PathBuf,
}

fn prepare() -> Result<Prepared> {
    let bin = agent::build_monitor()?;
    let sender = agent::build_sender(true)?;
    let ns = setup()?;
    let dir = agent::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    Ok(Prepared {
        bin,
        sender,
        _ns: ns,
        dir,
    })
}

pub fn storm() -> Result<()> {
    let Prepared {
        bin,
        sender,
        _ns,
        dir,
    } = prepare()?;
    let want_path = dir.join("storm-expected.jsonl");
    let listen = agent::free_port()?;
    let mut agent = Agent::start_with(
        &bin,
        RECEIVER_NS,
        RX_IF,
        listen,
        &["--recent-sessions", "20000"],
    )?;
    let start = Instant::now();
    let said = send(
        &sender,
        "storm",
        STORM_CLIENTS.into(),
        STORM_SECONDS.into(),
        &want_path,
    )?;
    let sent_at = start.elapsed();
    let want = expected(&want_path)?;
    // Every verdict is decided on evidence: wait for all of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = sessions(listen)?;
        if got.len() >= want.len() || Instant::now() >= deadline {
            break got;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let decided_at = start.elapsed();
    let m = agent.metrics()?;
    agent.stop()?;
    let bad = wrong(&want, &got);
    let lost = scrape::sum(&m, "pxe_events_lost_total", &[]);
    let started = scrape::sum(&m, "pxe_sessions_started_total", &[]);
    let decided = scrape::sum(&m, "pxe_sessions_total", &[]);
    let flood = scrape::sum(&m, "pxe_sessions_total", &[("outcome", "flood")]);
    let mut by_planted: std::collections::BTreeMap<String, usize> = Default::default();
    for (outcome, code) in want.values() {
        *by_planted
            .entry(
                format!("{outcome} {}", code.as_deref().unwrap_or(""))
                    .trim()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    println!("{STORM_CLIENTS} planted PXE clients over {STORM_SECONDS} s through {RX_IF} ({said})");
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    for (k, n) in &by_planted {
        println!("| planted {k} | {n} |");
    }
    println!(
        "| live verdicts as planted | {} of {} |",
        want.len() - bad.len(),
        want.len()
    );
    println!("| events lost | {lost} |");
    println!("| sessions started / decided | {started} / {decided} |");
    println!("| counted as a flood | {flood} |");
    println!(
        "| first frame to last verdict | {:.2} s (sending took {:.2} s) |",
        decided_at.as_secs_f64(),
        sent_at.as_secs_f64()
    );
    for b in bad.iter().take(10) {
        println!("wrong: {b}");
    }
    if !bad.is_empty() || lost != 0 || started != decided || flood != 0 {
        bail!(
            "the storm was not judged right: {} wrong, {lost} lost, {started} started / {decided} decided, {flood} flood",
            bad.len()
        );
    }
    Ok(())
}

/// The agent's resident memory, in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// One sample every 250 ms: seconds since start, RSS, scrape time (ms).
type Samples = Vec<(f64, f64, Option<f64>)>;

fn sample(pid: u32, listen: SocketAddr, start: Instant, stop: &AtomicBool) -> Samples {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let scraped = scrape::get(listen, "/metrics").ok();
        let ms = scraped.map(|_| t.elapsed().as_secs_f64() * 1000.0);
        out.push((
            start.elapsed().as_secs_f64(),
            rss_mib(pid).unwrap_or(0.0),
            ms,
        ));
        thread::sleep(Duration::from_millis(250).saturating_sub(t.elapsed()));
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

pub fn flood() -> Result<()> {
    let Prepared {
        bin,
        sender,
        _ns,
        dir,
    } = prepare()?;
    let want_path = dir.join("flood-expected.jsonl");
    let listen = agent::free_port()?;
    let log = dir.join("flood-agent.log");
    let mut agent = Agent::start_logged(&bin, RECEIVER_NS, RX_IF, listen, &[], &log)?;
    let pid = agent.pid().context("the agent is not running")?;
    thread::sleep(Duration::from_secs(1));
    let idle = rss_mib(pid).unwrap_or(0.0);
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let (said, sent_at, samples, after_ok) = thread::scope(|s| -> Result<_> {
        let sampler = s.spawn(|| sample(pid, listen, start, &stop));
        let said = send(&sender, "flood", FLOOD_DISCOVERS, FLOOD_BOOTS, &want_path);
        let sent_at = start.elapsed();
        // The flood's clients are done with once quiet (10 s); then the
        // flood is over and memory goes back.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut after_ok = false;
        while Instant::now() < deadline {
            thread::sleep(Duration::from_secs(1));
            let m = agent.metrics()?;
            if scrape::sum(&m, "pxe_dhcp_flood", &[]) == 0
                && scrape::sum(&m, "pxe_active_sessions", &[]) < 100
            {
                after_ok = true;
                break;
            }
        }
        thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
        let samples = sampler
            .join()
            .map_err(|_| anyhow::anyhow!("sampler panicked"))?;
        Ok((said?, sent_at, samples, after_ok))
    })?;
    let m = agent.metrics()?;
    let got = sessions(listen)?;
    agent.stop()?;
    let want = expected(&want_path)?;
    let bad = wrong(&want, &got);
    let kernel_dhcp = scrape::sum(
        &m,
        "pxe_dhcp_messages_total",
        &[("direction", "ingress"), ("type", "discover")],
    );
    let received = scrape::sum(&m, "pxe_events_received_total", &[("kind", "dhcp")]);
    let lost = scrape::sum(&m, "pxe_events_lost_total", &[]);
    let shed = scrape::sum(&m, "pxe_events_shed_total", &[]);
    let evictions = scrape::sum(&m, "pxe_tracker_evictions_total", &[]);
    let outcome = |o: &str| scrape::sum(&m, "pxe_sessions_total", &[("outcome", o)]);
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let end_rss = samples.last().map_or(0.0, |s| s.1);
    let during: Vec<f64> = samples
        .iter()
        .filter(|s| s.0 <= sent_at.as_secs_f64())
        .filter_map(|s| s.2)
        .collect();
    let mut all: Vec<f64> = samples.iter().filter_map(|s| s.2).collect();
    let failed_scrapes = samples.iter().filter(|s| s.2.is_none()).count();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let warn_lines = log_text.lines().filter(|l| l.contains("WARN")).count();
    println!("DHCP flood through {RX_IF}: {said}");
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| DISCOVERs counted by the kernel | {kernel_dhcp} |");
    println!(
        "| DHCP events read / lost (ring full) / DISCOVERs shed (ring half full) | {received} / {lost} / {shed} |"
    );
    println!(
        "| real boots judged as planted | {} of {} |",
        want.len() - bad.len(),
        want.len()
    );
    println!(
        "| sessions: flood / failed / booted | {} / {} / {} |",
        outcome("flood"),
        outcome("failed"),
        outcome("booted")
    );
    println!("| sessions closed early (table full) | {evictions} |");
    println!("| agent RSS: idle / peak / at the end, MiB | {idle:.1} / {peak:.1} / {end_rss:.1} |");
    println!(
        "| scrape during the flood: p50 / p99 / max, ms | {:.1} / {:.1} / {:.1} |",
        percentile(&mut during.clone(), 0.5),
        percentile(&mut during.clone(), 0.99),
        during.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "| scrape over the whole run: p99, ms; failed | {:.1}; {failed_scrapes} |",
        percentile(&mut all, 0.99)
    );
    println!("| agent WARN lines | {warn_lines} |");
    println!("| flood over and sessions closed by itself | {after_ok} |");
    println!();
    println!("RSS (MiB) and scrape (ms) every second:");
    for s in samples.iter().step_by(4) {
        println!(
            "  {:>6.1} s  {:>7.1} MiB  {}",
            s.0,
            s.1,
            s.2.map_or("no answer".to_owned(), |ms| format!("{ms:.1} ms"))
        );
    }
    for b in bad.iter().take(10) {
        println!("wrong: {b}");
    }
    Ok(())
}
