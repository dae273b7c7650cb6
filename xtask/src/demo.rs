//! `cargo xtask demo`: what pxe-monitor is for, in the lab, in about a
//! minute. pxe-monitor watches the DHCP/TFTP server's interface while real
//! iPXE clients boot: first from a healthy dnsmasq; then after the change
//! of Microsoft KB 259670 (isc-dhcp-server sending option 60 `PXEClient`
//! with nothing on port 4011), when the next machine fails and pxe-monitor
//! names the failure, its cause and its fix; then after that fix. A table
//! of the boots and the verdicts ends it.

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    agent::{self, Agent},
    lab::{self, Lab, Servers},
    scrape, setup,
};

/// Where the demo serves its page, /metrics and /api/sessions (loopback of
/// this machine).
pub const LISTEN: &str = "127.0.0.1:9567";

/// How long a client gets to say how its boot went.
const CONSOLE_WAIT: Duration = Duration::from_secs(60);
/// How long pxe-monitor gets to decide a boot once the console has spoken
/// (a PXE-E55 is decided when the request to port 4011 has gone
/// unanswered for the tracker's timeout).
const VERDICT_WAIT: Duration = Duration::from_secs(40);

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

/// One boot of the story.
struct Step {
    /// The machine (its MAC) that boots.
    mac: &'static str,
    servers: Servers,
    /// What serves the segment, as the table says it.
    setup: &'static str,
    /// Said before the boot.
    intro: &'static str,
}

const STEPS: [Step; 3] = [
    Step {
        mac: "52:54:00:77:00:0a",
        servers: Servers::Dnsmasq,
        setup: "dnsmasq (next-server, boot file)",
        intro: "machine A boots; dnsmasq answers DHCP with next-server and boot file, and serves TFTP",
    },
    Step {
        mac: "52:54:00:77:00:0b",
        servers: Servers::IscKb259670,
        setup: "isc-dhcp-server, option 60 PXEClient",
        intro: "the change of Microsoft KB 259670: isc-dhcp-server takes over, sending option 60 \
                \"PXEClient\" with options 66 and 67, and nothing listens on port 4011; machine B boots",
    },
    Step {
        mac: "52:54:00:77:00:0b",
        servers: Servers::Dnsmasq,
        setup: "dnsmasq (next-server, boot file)",
        intro: "the fix: option 60 off the DHCP server (here: dnsmasq back); machine B boots again",
    },
];

/// What one boot gave: the console's line and pxe-monitor's verdict.
struct Boot {
    console: String,
    verdict: Option<Value>,
}

pub fn run(stay: bool) -> Result<()> {
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
    let result = demo_in_lab(&mut lab, &bin, stay);
    println!("demo: tearing the lab down");
    let down = lab.down();
    result.and(down)
}

fn demo_in_lab(lab: &mut Lab, bin: &Path, stay: bool) -> Result<()> {
    let listen = LISTEN.parse()?;
    let log = lab.state_dir().join("pxe-monitor.log");
    let mut agent = Agent::start_logged(
        bin,
        lab::SERVER_NS,
        lab::SERVER_IF,
        listen,
        &["--log-format", "text"],
        &log,
    )?;
    println!();
    println!(
        "  pxe-monitor watches {} (the DHCP/TFTP server {}, namespace {})",
        lab::SERVER_IF,
        lab::SERVER_IP,
        lab::SERVER_NS
    );
    println!("  page:     http://{listen}/");
    println!("  metrics:  http://{listen}/metrics");
    println!("  verdicts: http://{listen}/api/sessions");
    println!("  its log:  {}", log.display());
    let start = Instant::now();
    let mut boots = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        println!();
        println!("{}/{}: {}", i + 1, STEPS.len(), step.intro);
        if i > 0 && step.servers != STEPS[i - 1].servers {
            lab.switch_servers(step.servers)
                .with_context(|| format!("starting {}", step.setup))?;
        }
        let boot = boot_once(lab, listen, step.mac, start)?;
        show_verdict(boot.verdict.as_ref(), start);
        if i == 0 {
            println!(
                "           (a boot is called booted once the client has been quiet for 15 s after its \
                 file: a chain may go on with its next one)"
            );
        }
        boots.push(boot);
    }
    println!();
    print_table(&boots);
    if let Ok(m) = agent.metrics() {
        println!();
        println!(
            "  /metrics: pxe_sessions_total {}, pxe_boot_failures_total{{code=\"PXE-E55\"}} {}",
            scrape::sum(&m, "pxe_sessions_total", &[]),
            scrape::sum(&m, "pxe_boot_failures_total", &[("code", "PXE-E55")]),
        );
    }
    if stay && !STOP.load(Ordering::SeqCst) {
        println!();
        println!("demo: the lab and pxe-monitor stay up; Ctrl-C to stop");
        while !STOP.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(200));
        }
    }
    let status = agent.stop()?;
    println!("demo: pxe-monitor exited ({status})");
    let failed = boots.len() == STEPS.len()
        && boots
            .iter()
            .zip(&STEPS)
            .any(|(b, s)| outcome(b.verdict.as_ref()) != expected(s.servers));
    if failed {
        bail!(
            "a verdict was not the expected one (see the table; pxe-monitor's log: {})",
            log.display()
        );
    }
    Ok(())
}

/// The outcome the lab's set-up gives a BIOS client.
fn expected(servers: Servers) -> &'static str {
    match servers {
        Servers::IscKb259670 => "failed",
        _ => "booted",
    }
}

/// Boots `mac`, waits for its console to say how it went and for
/// pxe-monitor's verdict on it.
fn boot_once(
    lab: &mut Lab,
    listen: std::net::SocketAddr,
    mac: &str,
    start: Instant,
) -> Result<Boot> {
    let before = sessions(listen)?.len();
    lab.boot_client_as(mac)?;
    let console = lab.wait_console(CONSOLE_WAIT, None)?;
    let line = if console.line.is_empty() {
        format!("(nothing decisive within {} s)", CONSOLE_WAIT.as_secs())
    } else {
        console.line.clone()
    };
    println!(
        "  [{:>5.1}s] client console: {}",
        start.elapsed().as_secs_f64(),
        escape(&line)
    );
    let deadline = Instant::now() + VERDICT_WAIT;
    let verdict = loop {
        let list = sessions(listen)?;
        // Newest first: a new verdict for this machine.
        if list.len() > before
            && let Some(v) = list.iter().find(|s| s["client_mac"] == mac)
        {
            break Some(v.clone());
        }
        if Instant::now() >= deadline || STOP.load(Ordering::SeqCst) {
            break None;
        }
        thread::sleep(Duration::from_millis(250));
    };
    lab.stop_client()?;
    Ok(Boot {
        console: line,
        verdict,
    })
}

fn sessions(listen: std::net::SocketAddr) -> Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)
        .context("reading /api/sessions")?;
    Ok(match list {
        Value::Array(l) => l,
        _ => Vec::new(),
    })
}

fn outcome(v: Option<&Value>) -> &str {
    v.and_then(|v| v["outcome"].as_str()).unwrap_or("none")
}

/// A verdict as an on-call engineer reads it: outcome and code, then the
/// cause, the fix and the warnings.
fn show_verdict(v: Option<&Value>, start: Instant) {
    let at = start.elapsed().as_secs_f64();
    let Some(v) = v else {
        println!("  [{at:>5.1}s] pxe-monitor: no verdict yet");
        return;
    };
    let mut head = outcome(Some(v)).to_owned();
    if let Some(code) = v["code"].as_str() {
        head += &format!(" {code}");
    }
    if let Some(file) = v["boot_file"].as_str() {
        head += &format!(", boot file {}", escape(file));
    }
    if let Some(server) = v["server"].as_str() {
        head += &format!(" from {}", escape(server));
    }
    println!("  [{at:>5.1}s] pxe-monitor: {head}");
    for (label, key) in [
        ("cause", "cause"),
        ("fix", "fix"),
        ("UEFI shows", "console"),
    ] {
        if let Some(text) = v[key].as_str() {
            println!("           {label}: {}", escape(text));
        }
    }
    for w in v["warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            println!("           warning: {}", escape(w));
        }
    }
}

fn print_table(boots: &[Boot]) {
    let rows: Vec<[String; 4]> = boots
        .iter()
        .zip(&STEPS)
        .map(|(b, s)| {
            let mut verdict = outcome(b.verdict.as_ref()).to_owned();
            if let Some(code) = b.verdict.as_ref().and_then(|v| v["code"].as_str()) {
                verdict += &format!(" {code}");
            }
            [
                format!("{} ({})", machine(s.mac), s.mac),
                s.setup.to_owned(),
                escape(&b.console),
                verdict,
            ]
        })
        .collect();
    let head = ["machine", "DHCP server", "client console", "pxe-monitor"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let w = [width(0), width(1), width(2), width(3)];
    let line = |r: &[&str; 4]| {
        println!(
            "  {:<a$}  {:<b$}  {:<c$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        )
    };
    line(&head);
    line(&[
        &"-".repeat(w[0]),
        &"-".repeat(w[1]),
        &"-".repeat(w[2]),
        &"-".repeat(w[3]),
    ]);
    for r in &rows {
        line(&[&r[0], &r[1], &r[2], &r[3]]);
    }
}

fn machine(mac: &str) -> &'static str {
    if mac.ends_with("0a") { "A" } else { "B" }
}

/// Text from the wire or a console, safe to print on a terminal: control
/// characters (escape sequences among them) as `\u{..}`.
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_not_sent() {
        assert_eq!(escape("boot\u{1b}[2Jfile"), "boot\\u{1b}[2Jfile");
        assert_eq!(escape("PXE-E55 from 10.77.10.1"), "PXE-E55 from 10.77.10.1");
    }
}
