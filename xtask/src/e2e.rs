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
    lab::{self, Console, Firmware, Lab, Servers},
    scrape,
};

/// Runs at once by default. The long runs wait on firmware timeouts, not on
/// the CPU: on 2 cores a run takes up to 1.5 times as long as alone (healthy
/// UEFI: 13 s against 9 s), the matrix a third.
pub const DEFAULT_JOBS: usize = 4;

/// The client's MAC address in every run (each run has its own segment).
const MAC: &str = lab::CLIENT_MAC;

/// What a scenario must show with one firmware.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// A piece of the console line that says how the boot went.
    pub console: &'static str,
    /// The verdict: outcome and firmware code.
    pub outcome: &'static str,
    pub code: Option<&'static str>,
    /// A piece of a warning the verdict must carry.
    pub warning: Option<&'static str>,
}

const fn booted(console: &'static str) -> Expect {
    Expect {
        console,
        outcome: "booted",
        code: None,
        warning: None,
    }
}

const fn failed(console: &'static str, code: &'static str) -> Expect {
    Expect {
        console,
        outcome: "failed",
        code: Some(code),
        warning: None,
    }
}

impl Expect {
    const fn warning(self, w: &'static str) -> Expect {
        Expect {
            warning: Some(w),
            ..self
        }
    }
}

/// The warning texts the scenarios look for.
const SEVERAL_SERVERS: &str = "several DHCP servers offered this client an address";
const OPTION60: &str = "sends option 60 PXEClient";

/// iPXE's last line when it booted the lab's boot.ipxe.
const IPXE_BOOTED: &str = lab::BOOT_OK_MARKER;
/// EDK2's line when it downloaded its boot file.
const EDK2_BOOTED: &str = "NBP file downloaded successfully";

/// Where a monitor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the DHCP server's interface.
    DhcpServer,
    /// On the proxyDHCP / boot server's interface.
    ProxyServer,
    /// On the router that relays DHCP: both its interfaces.
    Router,
}

impl Placement {
    pub fn label(self) -> &'static str {
        match self {
            Placement::DhcpServer => "on the DHCP server",
            Placement::ProxyServer => "on the proxyDHCP server",
            Placement::Router => "on the router",
        }
    }

    /// The namespace and interfaces the monitor attaches to.
    fn at(self, lab: &Lab) -> (String, &'static [&'static str]) {
        match self {
            Placement::DhcpServer => (lab.names.srv.clone(), &[lab::SERVER_IF]),
            Placement::ProxyServer => (lab.names.srv2.clone(), &[lab::SERVER_IF]),
            Placement::Router => (lab.names.rtr.clone(), &[lab::ROUTER_IF, lab::UPSTREAM_IF]),
        }
    }

    /// Where a datagram from the monitor's namespace crosses its
    /// interfaces (see [`clock_frame`]).
    fn clock_target(self) -> &'static str {
        match self {
            Placement::Router => lab::UPSTREAM_SERVER_IP,
            _ => lab::ROUTER_IP,
        }
    }
}

/// A monitor of a scenario, and whether the traffic that decides the boot
/// passes where it runs (if not, its verdict must be `unknown`: never a
/// wrong failure).
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub at: Placement,
    pub sees_all: bool,
}

const ON_THE_DHCP_SERVER: &[Watch] = &[Watch {
    at: Placement::DhcpServer,
    sees_all: true,
}];

const ON_THE_DHCP_SERVER_AND_THE_ROUTER: &[Watch] = &[
    Watch {
        at: Placement::DhcpServer,
        sees_all: true,
    },
    Watch {
        at: Placement::Router,
        sees_all: true,
    },
];

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub servers: Servers,
    pub bios: Expect,
    pub uefi: Expect,
    /// The monitors, each run live during the same boot.
    pub watch: &'static [Watch],
}

impl Scenario {
    fn expect(&self, fw: Firmware) -> Expect {
        match fw {
            Firmware::Bios => self.bios,
            Firmware::Uefi => self.uefi,
        }
    }
}

/// The matrix. The expectations are what each firmware's console printed
/// in the lab, and the code that names that failure.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy-dnsmasq",
        about: "dnsmasq: DHCP with next-server and boot file, TFTP",
        servers: Servers::Dnsmasq,
        bios: booted(IPXE_BOOTED),
        uefi: booted(EDK2_BOOTED),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "kb259670-isc",
        about: "isc-dhcp-server with option 60 PXEClient, 66, 67; nothing on 4011 (Microsoft KB 259670)",
        servers: Servers::IscKb259670,
        bios: failed("Nothing to boot", "PXE-E55"),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E55"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "kb259670-kea",
        about: "the same misconfiguration served by Kea",
        servers: Servers::KeaKb259670,
        bios: failed("Nothing to boot", "PXE-E55"),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E55"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "option60-next-server",
        about: "isc-dhcp-server with option 60 PXEClient and next-server + file; TFTP by dnsmasq",
        servers: Servers::IscOption60NextServer,
        // iPXE skips 4011 when the offer has next-server and a file; the
        // risk is still named.
        bios: booted(IPXE_BOOTED).warning(OPTION60),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E55"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "no-bootfile",
        about: "dnsmasq: addresses and TFTP, no boot file",
        servers: Servers::DnsmasqNoBootFile,
        bios: failed("Nothing to boot", "PXE-E53"),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E53"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "bootfile-missing",
        about: "dnsmasq names a boot file its TFTP root lacks",
        servers: Servers::DnsmasqFileMissing,
        bios: failed("No such file or directory", "PXE-E3B"),
        uefi: failed("PXE-E23: Client received TFTP error from server", "PXE-E3B"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "no-dhcp-server",
        about: "no DHCP server on the segment",
        servers: Servers::NoDhcp,
        bios: failed("Nothing to boot", "PXE-E51"),
        uefi: failed("PXE-E18: Server response timeout", "PXE-E51"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "tftp-server-down",
        about: "dnsmasq names itself as TFTP server; no TFTP server runs",
        servers: Servers::DnsmasqNoTftp,
        bios: failed("Connection timed out", "PXE-E32"),
        uefi: failed("PXE-E99: Unexpected network error", "PXE-E32"),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "options-66-67-only",
        about: "isc-dhcp-server with options 66/67 only: no next-server, no option 60 (Windows DHCP style)",
        servers: Servers::IscOptions6667Only,
        bios: failed("Nothing to boot", "PXE-E7B"),
        // EDK2 takes option 66 as the TFTP server.
        uefi: booted(EDK2_BOOTED),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "two-dhcp-servers",
        about: "dnsmasq, and a second DHCP server without boot information answering a second later",
        servers: Servers::TwoDhcpServers,
        // iPXE takes the last of equal offers; EDK2 prefers one with a
        // boot file.
        bios: failed("Nothing to boot", "PXE-E53").warning(SEVERAL_SERVERS),
        uefi: booted(EDK2_BOOTED).warning(SEVERAL_SERVERS),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxelinux-chain",
        about: "dnsmasq serves pxelinux.0 / syslinux.efi, which fetch ldlinux and probe pxelinux.cfg/ before default",
        servers: Servers::PxelinuxChain,
        // The loader prints the marker from pxelinux.cfg/default: the whole
        // chain ran.
        bios: booted(lab::PXELINUX_OK_MARKER),
        uefi: booted(lab::PXELINUX_OK_MARKER),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "relay-ip-helper",
        about: "the router relays DHCP (its IP helper) to dnsmasq behind it; TFTP is routed",
        servers: Servers::Relay,
        bios: booted(IPXE_BOOTED),
        uefi: booted(EDK2_BOOTED),
        watch: ON_THE_DHCP_SERVER_AND_THE_ROUTER,
    },
    Scenario {
        name: "relay-missing-pxe-server",
        about: "the router relays to the DHCP server (addresses only) but not to the PXE server behind it",
        servers: Servers::RelayMissingPxeServer,
        bios: failed("Nothing to boot", "PXE-E53"),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E53"),
        watch: ON_THE_DHCP_SERVER_AND_THE_ROUTER,
    },
    Scenario {
        name: "healthy-proxydhcp",
        about: "isc-dhcp-server gives addresses; dnsmasq at 10.77.10.2 is proxyDHCP (67, 4011) and TFTP",
        servers: Servers::ProxyDhcp,
        bios: booted(IPXE_BOOTED),
        uefi: booted(EDK2_BOOTED),
        // The boot-server exchange and the transfer go to 10.77.10.2 only.
        watch: &[
            Watch {
                at: Placement::ProxyServer,
                sees_all: true,
            },
            Watch {
                at: Placement::DhcpServer,
                sees_all: false,
            },
        ],
    },
    Scenario {
        name: "proxydhcp-no-boot-service",
        about: "the same, the proxy configured without a boot service (it stays silent)",
        servers: Servers::ProxyDhcpNoBootService,
        bios: failed("Nothing to boot", "PXE-E53"),
        uefi: failed("PXE-E16: No valid offer received", "PXE-E53"),
        watch: ON_THE_DHCP_SERVER,
    },
];

/// What one run showed.
/// An outcome and its code, as /api/sessions and replay print them.
type Verdict = (String, Option<String>);

/// What one monitor said.
pub struct View {
    pub at: Placement,
    pub live: Option<Verdict>,
    /// `pxe-monitor replay` of a capture taken where the monitor runs.
    pub replay: Option<Verdict>,
}

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

/// Processes whose command line names `dir`: every process of a run does
/// (its config, log, capture or console file is there). This process and
/// its ancestors (which may name it in `--out`) aside.
fn processes_using(dir: &Path) -> Vec<(u32, String)> {
    let mut mine = vec![std::process::id()];
    while let Some(parent) = mine
        .last()
        .and_then(|p| lab::proc_ppid(*p))
        .filter(|p| *p > 1)
    {
        mine.push(parent);
    }
    let needle = dir.to_string_lossy().into_owned();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !mine.contains(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map(|pid| (pid, lab::proc_comm(pid)))
        .collect()
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
    let out = lab::netns_command(ns, "bash")
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

/// The client's session at /api/sessions, if it has a verdict yet.
fn session(listen: std::net::SocketAddr) -> Result<Option<Live>> {
    let list: Value = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
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

/// The name of the boot storm in `--scenario`.
pub const STORM: &str = "boot-storm";

fn storm_line(st: &Storm) -> String {
    format!(
        "{} {STORM}: {} light clients, first DISCOVERs within {}, {} fetched their {} KiB boot file; \
         pxe-monitor live: {:?}; first DISCOVER to last block {}; {:.0} s{}",
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
    pub took: Duration,
    pub problems: Vec<String>,
}

/// The shell handler busybox udhcpc runs: on "bound", configure the address
/// and write the next server and boot file for the TFTP step.
const UDHCPC_HANDLER: &str = "#!/bin/sh\n\
    [ \"$1\" = bound ] || exit 0\n\
    ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n\
    echo \"$siaddr $boot_file\" > \"$LEASE_FILE\"\n";

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
    fs::create_dir_all(dir)?;
    let mut lab =
        Lab::up_with(&dir.join("lab"), instance, Servers::DnsmasqBigFile).context("lab up")?;
    let pcap = dir.join("segment.pcap");
    lab.start_capture_on_segment(&pcap)?;
    let listen = agent::free_port()?;
    let mut agent = Agent::start_logged(
        bin,
        &lab.names.srv,
        lab::SERVER_IF,
        listen,
        &[],
        &dir.join("pxe-monitor.log"),
    )?;
    let before = agent.metrics()?;
    let light = lab.add_light_clients(st.clients)?;
    let handler = dir.join("udhcpc-handler.sh");
    fs::write(&handler, UDHCPC_HANDLER)?;
    fs::set_permissions(
        &handler,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
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
        let child = lab::netns_command(ns, "sh")
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

    // Every client gets its live verdict, and it says what the client saw.
    let macs: Vec<&String> = light.iter().map(|(_, m)| m).collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    let sessions = loop {
        let list: Value = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)?;
        let mine: Vec<Value> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["client_mac"]
                    .as_str()
                    .is_some_and(|m| macs.iter().any(|x| *x == m))
            })
            .cloned()
            .collect();
        if mine.len() >= macs.len() || Instant::now() >= deadline {
            break mine;
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
    let after = agent.metrics()?;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        scrape::sum(&after, name, labels) as i64 - scrape::sum(&before, name, labels) as i64
    };
    let started = delta("pxe_sessions_started_total", &[]);
    let decided: i64 = ["booted", "failed", "unfinished", "unknown"]
        .iter()
        .map(|o| delta("pxe_sessions_total", &[("outcome", o)]))
        .sum();
    if started != st.clients as i64 || decided != started {
        st.problems.push(format!(
            "pxe_sessions_started_total rose by {started}, the decided sessions by {decided}, for {} clients",
            st.clients
        ));
    }
    let lost = scrape::sum(&after, "pxe_events_lost_total", &[]);
    if lost != 0 {
        st.problems.push(format!("{lost} event(s) lost"));
    }
    agent.stop()?;
    drop(children);
    lab.stop_capture()?;
    lab.down()?;
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

    #[test]
    fn a_process_naming_the_directory_is_found() {
        let dir = std::env::temp_dir().join(format!("pxe-procs-{}", std::process::id()));
        // sh's $0 names the directory, as a lab process's config path does.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; true"])
            .arg(&dir)
            .spawn()
            .unwrap();
        // Until it has exec'd, the child's command line is this test's.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = processes_using(&dir);
        while found.is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
            found = processes_using(&dir);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|(p, _)| *p == child.id()), "{found:?}");
        assert!(processes_using(&dir.join("nothing-here")).is_empty());
    }
}
