//! An IP phone on the boot network: a light client that takes a DHCP lease
//! with a phone's vendor class and reads its files over TFTP as Cisco
//! phones do (`CTLSEP<mac>.tlv`, not found, then `SEP<mac>.cnf.xml`). The
//! TFTP server it shares with the PXE clients is watched by pxe-monitor,
//! which must report the transfers (outcome `tftp_only`, the TFTP metrics)
//! and never a boot or a boot failure, live and in replay of the capture.

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{light::LightLab, verdict::sessions};
use crate::{lab::Servers, scrape, sys};

/// The name of this run in `--scenario`.
pub const PHONE: &str = "tftp-phone";

/// What the phone run showed.
pub struct Phone {
    /// pxe-monitor's live outcome for the phone.
    pub live: Option<String>,
    /// `replay` of the segment capture.
    pub replay: Option<String>,
    pub took: Duration,
    pub problems: Vec<String>,
}

pub(super) fn phone_line(p: &Phone) -> String {
    format!(
        "{} {PHONE}: an IP phone's DHCP and TFTP (CTLSEP .tlv not found, then its .cnf.xml); pxe-monitor live: {}, replay: {}; {:.0} s{}",
        if p.problems.is_empty() {
            "ok  "
        } else {
            "FAIL"
        },
        p.live.as_deref().unwrap_or("none"),
        p.replay.as_deref().unwrap_or("none"),
        p.took.as_secs_f64(),
        if p.problems.is_empty() {
            String::new()
        } else {
            format!(": {}", p.problems.join("; "))
        }
    )
}

/// The vendor class a Cisco 7911 sends (seen in a peer capture,
/// `mercury/capture2.pcap`).
const VENDOR_CLASS: &str = "Cisco Systems, Inc. IP Phone CP-7911G";

pub fn phone(bin: &Path, instance: u16, out: &Path) -> Phone {
    let start = Instant::now();
    let mut p = Phone {
        live: None,
        replay: None,
        took: Duration::ZERO,
        problems: Vec::new(),
    };
    if let Err(e) = drive(bin, instance, &out.join(PHONE), &mut p) {
        p.problems.push(format!("{e:#}"));
    }
    p.took = start.elapsed();
    p
}

fn drive(bin: &Path, instance: u16, dir: &Path, p: &mut Phone) -> Result<()> {
    let ll = LightLab::up(bin, instance, dir, Servers::Dnsmasq, 1, false)?;
    let (ns, mac) = ll.clients[0].clone();
    let name = mac.replace(':', "").to_uppercase();
    let config = format!("SEP{name}.cnf.xml");
    fs::write(
        dir.join("lab/tftp").join(&config),
        "<device><loadInformation>SIP11.9-4-2SR3-1S</loadInformation></device>\n",
    )?;
    let lease = dir.join("lease");
    let got = dir.join("got-config");
    let script = format!(
        "busybox udhcpc -f -q -n -t 4 -T 1 -i eth0 -s {handler} -V '{VENDOR_CLASS}' && \
         read server file < {lease} && \
         ! atftp -g -r CTLSEP{name}.tlv -l /dev/null \"$server\" && \
         atftp -g -r {config} -l {got} \"$server\" && test -s {got}",
        handler = ll.handler.display(),
        lease = lease.display(),
        got = got.display(),
    );
    let log = fs::File::create(dir.join("phone.log"))?;
    let status = sys::netns_command(&ns, "sh")
        .args(["-c", &script])
        .env("LEASE_FILE", &lease)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .context("running the phone")?;
    if !status.success() {
        bail!("the phone's own DHCP and TFTP failed ({status}): see phone.log");
    }
    // Reported once the phone is quiet for the no-answer timeout (10 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let session = loop {
        let mine = sessions(ll.listen)?
            .into_iter()
            .find(|s| s["client_mac"] == mac.as_str());
        if mine.is_some() || Instant::now() >= deadline {
            break mine;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let after = ll.agent.metrics()?;
    let (before, pcap) = (ll.before.clone(), ll.pcap.clone());
    ll.down()?;
    match &session {
        None => p
            .problems
            .push("no live record of the phone after 30 s".into()),
        Some(s) => check_record(s, "live", &config, &name, &mut p.problems),
    }
    p.live = session.and_then(|s| s["outcome"].as_str().map(str::to_owned));
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        scrape::sum(&after, metric, labels) as i64 - scrape::sum(&before, metric, labels) as i64
    };
    for (metric, labels, want) in [
        ("pxe_boot_failures_total", &[][..], 0),
        ("pxe_sessions_total", &[("outcome", "tftp_only")][..], 1),
        ("pxe_sessions_total", &[("outcome", "booted")][..], 0),
        (
            "pxe_tftp_errors_total",
            &[("sender", "server"), ("code", "1_file_not_found")][..],
            1,
        ),
        ("pxe_tftp_transfer_duration_seconds_count", &[][..], 1),
        ("pxe_events_lost_total", &[][..], 0),
    ] {
        let d = delta(metric, labels);
        if d != want {
            p.problems
                .push(format!("{metric}{labels:?} rose by {d}, expected {want}"));
        }
    }
    // Replay of the capture says the same.
    let out = std::process::Command::new(bin)
        .args(["replay", "--format", "json"])
        .arg(&pcap)
        .output()
        .context("running pxe-monitor replay")?;
    let replayed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["client_mac"] == mac.as_str());
    match &replayed {
        None => p
            .problems
            .push("replay of the capture has no record of the phone".into()),
        Some(v) => check_record(v, "replay", &config, &name, &mut p.problems),
    }
    p.replay = replayed.and_then(|v| v["outcome"].as_str().map(str::to_owned));
    Ok(())
}

/// The phone's record: no boot verdict, both transfers as they went.
fn check_record(v: &Value, what: &str, config: &str, name: &str, problems: &mut Vec<String>) {
    if v["outcome"] != "tftp_only" || !v["code"].is_null() {
        problems.push(format!("{what}: the phone got a boot verdict: {v}"));
    }
    let transfers = v["transfers"].as_array().cloned().unwrap_or_default();
    let result = |file: &str| {
        transfers
            .iter()
            .find(|t| t["file"] == file)
            .and_then(|t| t["result"].as_str().map(str::to_owned))
    };
    let ctl = format!("CTLSEP{name}.tlv");
    if result(&ctl).as_deref() != Some("error") || result(config).as_deref() != Some("complete") {
        problems.push(format!(
            "{what}: transfers {transfers:?}, expected {ctl} error and {config} complete"
        ));
    }
}
