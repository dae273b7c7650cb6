//! `cargo xtask demo`: the lab, pxe-monitor on the DHCP/TFTP server's
//! interface, a real iPXE client booting, and a live summary of what the
//! monitor counts.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    agent::{self, Agent},
    lab::{self, Lab},
    scrape::{self, Sample},
    setup,
};

/// Where the demo serves /metrics (loopback of this machine).
pub const LISTEN: &str = "127.0.0.1:9567";

/// How often the demo boots its client again.
const REBOOT_EVERY: Duration = Duration::from_secs(20);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

pub fn run(duration: Option<u64>) -> Result<()> {
    if !setup::is_complete() {
        println!("demo: running setup first");
        setup::run()?;
    }
    println!("demo: building pxe-monitor");
    let bin = agent::build_monitor()?;
    catch_signals();
    println!(
        "demo: building the lab (network namespaces {}, {}, {})",
        lab::CLIENT_NS,
        lab::SERVER_NS,
        lab::ROUTER_NS
    );
    let mut lab = Lab::up(&lab::default_state_dir()).context("bringing the lab up")?;
    let result = demo_in_lab(&mut lab, &bin, duration);
    println!("demo: tearing the lab down");
    let down = lab.down();
    result.and(down)
}

fn demo_in_lab(lab: &mut Lab, bin: &std::path::Path, duration: Option<u64>) -> Result<()> {
    let listen = LISTEN.parse()?;
    let mut agent = Agent::start(bin, lab::SERVER_NS, lab::SERVER_IF, listen)?;
    println!();
    println!(
        "  pxe-monitor is attached to {} (DHCP+TFTP server {}) in namespace {}",
        lab::SERVER_IF,
        lab::SERVER_IP,
        lab::SERVER_NS
    );
    println!("  metrics:  http://{listen}/metrics");
    println!("  health:   http://{listen}/healthz");
    println!();
    println!(
        "demo: booting the iPXE client (qemu, MAC {})",
        lab::CLIENT_MAC
    );
    lab.boot_client()?;
    let start = Instant::now();
    let end = duration.map(|s| start + Duration::from_secs(s));
    let mut boots = 1;
    let mut boot_started = start;
    let mut booted = false;
    let mut ever_booted = false;
    let mut last = String::new();
    while !STOP.load(Ordering::SeqCst) && end.is_none_or(|e| Instant::now() < e) {
        if !booted && lab.wait_client(Duration::from_millis(1))? {
            booted = true;
            ever_booted = true;
            println!(
                "  [{:>5.1}s] client console: {}",
                start.elapsed().as_secs_f64(),
                lab::BOOT_OK_MARKER
            );
        }
        // Boot the client again now and then, so the counters keep moving.
        if boot_started.elapsed() >= REBOOT_EVERY {
            lab.stop_client()?;
            boots += 1;
            println!(
                "  [{:>5.1}s] booting the client again (boot #{boots})",
                start.elapsed().as_secs_f64()
            );
            lab.boot_client()?;
            boot_started = Instant::now();
            booted = false;
        }
        match agent.metrics() {
            Ok(m) => {
                let line = summary(&m);
                if line != last {
                    println!("  [{:>5.1}s] {line}", start.elapsed().as_secs_f64());
                    last = line;
                }
            }
            Err(e) => println!("  scrape failed: {e:#}"),
        }
        thread::sleep(Duration::from_millis(500));
    }
    if duration.is_none() || STOP.load(Ordering::SeqCst) {
        println!("demo: stopping");
    }
    let status = agent.stop()?;
    println!("demo: pxe-monitor exited ({status})");
    lab.stop_client()?;
    if !ever_booted {
        println!(
            "demo: note: the client did not print {} (serial log: {})",
            lab::BOOT_OK_MARKER,
            lab.serial_log().display()
        );
    }
    Ok(())
}

/// One line: DHCP messages by type (in from clients, out from the server)
/// and TFTP requests.
fn summary(m: &[Sample]) -> String {
    let dhcp = |dir: &str, ty: &str| {
        scrape::sum(
            m,
            "pxe_dhcp_messages_total",
            &[("direction", dir), ("type", ty)],
        )
    };
    let tftp = scrape::sum(m, "pxe_packets_total", &[("class", "tftp_request")]);
    let udp_other = scrape::sum(m, "pxe_packets_total", &[("class", "other_udp")]);
    format!(
        "DHCP in: discover {} request {} | DHCP out: offer {} ack {} nak {} | TFTP requests {} | other UDP (TFTP data) {}",
        dhcp("ingress", "discover"),
        dhcp("ingress", "request"),
        dhcp("egress", "offer"),
        dhcp("egress", "ack"),
        dhcp("egress", "nak"),
        tftp,
        udp_other,
    )
}
