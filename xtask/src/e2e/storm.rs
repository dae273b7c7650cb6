//! The boot storm: many light PXE clients at once against one server, each
//! client's own outcome checked against pxe-monitor's verdict, while 10,000
//! planted clients (synthesised at packet level, each with its planted
//! outcome: `monitor::testing::planted`) reach the same agent through a
//! link of their own, at fleet rate.

use std::{
    fs,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{light::LightLab, verdict::sessions};
use crate::{
    agent,
    lab::{self, Servers},
    planted, scrape, sys,
};

/// The name of the boot storm in `--scenario`.
pub const STORM: &str = "boot-storm";

pub(super) fn storm_line(st: &Storm) -> String {
    format!(
        "{} {STORM}: {} light clients, first DISCOVERs within {}, {} fetched their {} KiB boot file; \
         pxe-monitor live: {:?}; first DISCOVER to last block {}; planted clients alongside: {} of {} judged as planted; {:.0} s{}",
        if st.problems.is_empty() {
            "ok  "
        } else {
            "FAIL"
        },
        st.clients,
        st.discover_spread
            .map_or("?".to_owned(), |s| format!("{s:.2} s")),
        st.clients_booted,
        lab::STORM_FILE_BYTES / 1024,
        st.verdicts,
        st.first_to_last
            .map_or("unknown".to_owned(), |s| format!("{s:.2} s")),
        st.planted_right,
        st.planted,
        st.took.as_secs_f64(),
        if st.problems.is_empty() {
            String::new()
        } else {
            format!(": {}", st.problems.join("; "))
        }
    )
}

/// Light clients in the boot storm.
pub const STORM_CLIENTS: usize = 50;
/// Planted clients alongside them, over [`PLANTED_SECONDS`].
pub const PLANTED_CLIENTS: u32 = 10_000;
pub const PLANTED_SECONDS: u32 = 10;

/// What the boot storm showed.
pub struct Storm {
    pub clients: usize,
    /// Clients whose own DHCP and TFTP succeeded.
    pub clients_booted: usize,
    /// Live verdicts by outcome.
    pub verdicts: std::collections::BTreeMap<String, usize>,
    /// From the first DISCOVER to the last completed transfer (the
    /// client-segment capture).
    pub first_to_last: Option<f64>,
    /// How far apart the clients' first DISCOVERs were.
    pub discover_spread: Option<f64>,
    /// Planted clients, and those whose live verdict was the planted one.
    pub planted: u32,
    pub planted_right: usize,
    pub took: Duration,
    pub problems: Vec<String>,
}

/// `clients` light PXE clients (busybox udhcpc with a PXE vendor class and
/// client architecture, then atftp of the boot file it was given, as
/// firmware does) start within a second against dnsmasq, pxe-monitor on
/// the server's interface. Every client must have a verdict, the verdict
/// must match what the client itself saw, and no event may be lost.
pub fn storm(bin: &Path, instance: u16, out: &Path, clients: usize) -> Storm {
    let start = Instant::now();
    let mut st = Storm {
        clients,
        clients_booted: 0,
        verdicts: Default::default(),
        first_to_last: None,
        discover_spread: None,
        planted: PLANTED_CLIENTS,
        planted_right: 0,
        took: Duration::ZERO,
        problems: Vec::new(),
    };
    if let Err(e) = drive_storm(bin, instance, &out.join("boot-storm"), &mut st) {
        st.problems.push(format!("{e:#}"));
    }
    st.took = start.elapsed();
    st
}

/// Kills the storm's clients still running when dropped.
struct Children(Vec<(String, std::process::Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn drive_storm(bin: &Path, instance: u16, dir: &Path, st: &mut Storm) -> Result<()> {
    let sender = agent::build_sender(false)?;
    let ll = LightLab::up(
        bin,
        instance,
        dir,
        Servers::DnsmasqBigFile,
        st.clients,
        true,
    )?;
    let plant_ns = ll.planted.clone().context("no planted link")?;
    let (listen, handler, light) = (ll.listen, &ll.handler, &ll.clients);
    let mut children = Children(Vec::new());
    // Every client waits for this file, then all start together: how long
    // spawning 50 processes takes does not spread the storm.
    let go = dir.join("go");
    let _ = fs::remove_file(&go);
    for (i, (ns, mac)) in light.iter().enumerate() {
        let lease = dir.join(format!("lease-{i}"));
        let log = fs::File::create(dir.join(format!("client-{i}.log")))?;
        let script = format!(
            "while [ ! -e {go} ]; do sleep 0.01; done; \
             busybox udhcpc -f -q -n -t 4 -T 1 -i eth0 -s {handler} \
             -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 && \
             read server file < {lease} && \
             atftp --option 'blksize 1428' --option 'tsize 0' -g -r \"$file\" -l {local} \"$server\" && \
             test $(stat -c %s {local}) -eq {size} && rm -f {local}",
            local = dir.join(format!("got-{i}")).display(),
            size = lab::STORM_FILE_BYTES,
            handler = handler.display(),
            lease = lease.display(),
            go = go.display()
        );
        let child = sys::netns_command(ns, "sh")
            .args(["-c", &script])
            .env("LEASE_FILE", &lease)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a light client")?;
        children.0.push((mac.clone(), child));
    }
    fs::write(&go, "")?;
    let expected_path = dir.join("planted-expected.jsonl");
    let plant = std::process::Command::new(&sender)
        .arg("storm")
        .arg(st.planted.to_string())
        .arg(PLANTED_SECONDS.to_string())
        .args([plant_ns.as_str(), lab::PLANT_TX])
        .arg(&expected_path)
        .stdout(fs::File::create(dir.join("planted.log"))?)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting the planted-traffic sender")?;
    // Each client's own view: it booted when its TFTP download succeeded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut booted_macs = Vec::new();
    for (mac, child) in &mut children.0 {
        loop {
            if let Some(status) = child.try_wait()? {
                if status.success() {
                    booted_macs.push(mac.clone());
                }
                break;
            }
            if Instant::now() >= deadline {
                st.problems
                    .push(format!("client {mac} still running after 60 s"));
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    st.clients_booted = booted_macs.len();
    let sent = plant
        .wait_with_output()
        .context("waiting for the planted traffic")?;
    if !sent.status.success() {
        bail!(
            "the planted-traffic sender failed: {}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    let planted_want = planted::expected(&expected_path)?;

    // Every client gets its live verdict, and it says what the client saw.
    let macs: Vec<&String> = light.iter().map(|(_, m)| m).collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    let (sessions, all) = loop {
        let all = sessions(listen)?;
        let mine: Vec<Value> = all
            .iter()
            .filter(|s| {
                s["client_mac"]
                    .as_str()
                    .is_some_and(|m| macs.iter().any(|x| *x == m))
            })
            .cloned()
            .collect();
        if (mine.len() >= macs.len() && all.len() >= macs.len() + planted_want.len())
            || Instant::now() >= deadline
        {
            break (mine, all);
        }
        thread::sleep(Duration::from_millis(250));
    };
    for s in &sessions {
        *st.verdicts
            .entry(s["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        let mac = s["client_mac"].as_str().unwrap_or("");
        let client_booted = booted_macs.iter().any(|m| m == mac);
        if (s["outcome"] == "booted") != client_booted {
            st.problems.push(format!(
                "{mac}: the client {} but pxe-monitor says {}",
                if client_booted { "booted" } else { "failed" },
                s["outcome"]
            ));
        }
    }
    if sessions.len() != macs.len() {
        st.problems.push(format!(
            "{} of {} clients have a verdict",
            sessions.len(),
            macs.len()
        ));
    }
    // Every planted client gets its planted verdict.
    let wrong = planted::wrong(&planted_want, &planted::by_mac(all));
    st.planted_right = planted_want.len() - wrong.len();
    if !wrong.is_empty() {
        st.problems.push(format!(
            "{} of {} planted clients misjudged, e.g. {}",
            wrong.len(),
            planted_want.len(),
            wrong[0]
        ));
    }
    let after = ll.agent.metrics()?;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        scrape::sum(&after, name, labels) as i64 - scrape::sum(&ll.before, name, labels) as i64
    };
    let started = delta("pxe_sessions_started_total", &[]);
    // Every outcome's series.
    let decided = delta("pxe_sessions_total", &[]);
    let all = st.clients as i64 + i64::from(st.planted);
    if started != all || decided != started {
        st.problems.push(format!(
            "pxe_sessions_started_total rose by {started}, the decided sessions by {decided}, for {all} clients"
        ));
    }
    let lost = scrape::sum(&after, "pxe_events_lost_total", &[]);
    if lost != 0 {
        st.problems.push(format!("{lost} event(s) lost"));
    }
    drop(children);
    let pcap = ll.pcap.clone();
    ll.down()?;
    let (spread, first_to_last) = storm_times(&pcap)?;
    st.first_to_last = first_to_last;
    st.discover_spread = spread;
    match spread {
        Some(s) if s <= 1.0 => {}
        Some(s) => st.problems.push(format!(
            "the clients' first DISCOVERs spread over {s:.2} s (more than a second)"
        )),
        None => st.problems.push("no DISCOVER in the capture".into()),
    }
    Ok(())
}

/// From the capture: how far apart the clients' first DISCOVERs are, and
/// the seconds from the first DISCOVER to the last TFTP DATA.
fn storm_times(pcap: &Path) -> Result<(Option<f64>, Option<f64>)> {
    let times = |filter: &str| -> Result<Vec<f64>> {
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(pcap)
            .args(["-Y", filter, "-T", "fields", "-e", "frame.time_relative"])
            .output()
            .context("running tshark")?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect())
    };
    // The first DISCOVER of each client (by its MAC).
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", "dhcp.option.dhcp == 1", "-T", "fields"])
        .args(["-e", "eth.src", "-e", "frame.time_relative"])
        .output()
        .context("running tshark")?;
    let mut first_by_client = std::collections::BTreeMap::<String, f64>::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((mac, t)) = l.split_once('\t')
            && let Ok(t) = t.trim().parse::<f64>()
        {
            first_by_client.entry(mac.to_owned()).or_insert(t);
        }
    }
    let firsts = first_by_client.values().copied();
    let spread = firsts
        .clone()
        .reduce(f64::max)
        .zip(firsts.clone().reduce(f64::min))
        .map(|(hi, lo)| hi - lo);
    let first = firsts.reduce(f64::min);
    let last = times("tftp.opcode == 3")?.into_iter().reduce(f64::max);
    Ok((spread, first.zip(last).map(|(a, b)| b - a)))
}
