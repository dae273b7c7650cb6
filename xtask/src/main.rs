//! Project tasks: `cargo xtask setup | lab up|down|scenario | demo | test | e2e | fuzz | bench | package | container`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::{demo, lab, setup, test};

#[derive(Parser)]
#[command(name = "xtask", about = "pxe-monitor project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building and testing need (Debian packages, rust-src,
    /// bpf-linker); idempotent.
    Setup,
    /// Build or tear down the network-namespace PXE lab.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// What pxe-monitor is for, in the lab: real iPXE clients boot from a
    /// healthy dnsmasq, then after the KB 259670 change (a failure named
    /// with its cause and fix), then after the fix; a table of boots and
    /// verdicts.
    Demo {
        /// Keep the lab and pxe-monitor up afterwards, until Ctrl-C.
        #[arg(long)]
        stay: bool,
    },
    /// Every test, set-up first.
    Test,
    /// Every failure mode live in the lab, with BIOS (iPXE) and UEFI (OVMF)
    /// clients and pxe-monitor attached: console, live verdict, metrics and
    /// replay of the capture checked per run (root).
    E2e {
        /// Only this scenario (repeatable).
        #[arg(long = "scenario", value_name = "NAME")]
        scenarios: Vec<String>,
        /// Only this firmware (repeatable; default all).
        #[arg(long, value_enum)]
        firmware: Vec<lab::Firmware>,
        /// Runs at once, each in its own lab instance.
        #[arg(long, default_value_t = xtask::e2e::DEFAULT_JOBS)]
        jobs: usize,
        /// Where captures, consoles, logs and results.md go (default
        /// target/e2e/<time>).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// List the scenarios and exit.
        #[arg(long)]
        list: bool,
    },
    /// The Debian package: release build, man pages and completions, then
    /// the .deb with cargo-deb (target/debian/); prints its path.
    Package {
        /// Debian revision (default 1: version 0.1.0-1).
        #[arg(long, value_name = "N")]
        revision: Option<String>,
        /// Also check it under a real systemd: a Debian 12 tree
        /// (debootstrap, kept in target/package-boot) booted with
        /// systemd-nspawn; install, run, upgrade, unconfigured start, purge
        /// (root; apt-get install debootstrap systemd-container).
        #[arg(long)]
        boot: bool,
    },
    /// The container image: pxe-monitor built as a static binary (musl) in
    /// an image FROM scratch (deploy/container/Containerfile), with podman.
    Container {
        /// Also write the image to target/container/pxe-monitor-VERSION.oci.tar
        /// (to import on nodes without a registry).
        #[arg(long)]
        save: bool,
        /// Only build and check the static binary.
        #[arg(long, conflicts_with = "save")]
        no_image: bool,
    },
    /// Every fuzz target (fuzz/fuzz_targets: the classifier, the capture
    /// reader, the record decoder, the payload parsers, the session
    /// tracker, replay), each for a time; seeds from ../shared/fixtures.
    Fuzz {
        /// Seconds each target runs.
        #[arg(long = "time", value_name = "S", default_value_t = 60)]
        seconds: u32,
        /// Executions each target runs, instead of a time.
        #[arg(long, value_name = "N", conflicts_with = "seconds")]
        runs: Option<u64>,
        /// Only this target (repeatable).
        #[arg(long = "target", value_name = "NAME")]
        targets: Vec<String>,
        /// Targets run at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Benchmarks (root; needs ../shared/fixtures).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum LabAction {
    /// Build the namespaces, start radvd and dnsmasq, leave them running.
    Up,
    /// Stop everything a previous `lab up` started and delete the namespaces
    /// (of every lab instance, leftovers of crashed e2e runs included).
    Down,
    /// Run one e2e scenario (see `cargo xtask e2e`) with each firmware, or
    /// the one given, and print what the console and pxe-monitor said.
    Scenario {
        /// The scenario's name (`cargo xtask e2e --list` lists them).
        name: String,
        #[arg(long, value_enum)]
        firmware: Vec<lab::Firmware>,
        /// Where the captures, consoles and logs go (default
        /// target/e2e/<time>).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// ns per frame of the TC ingress and XDP programs against bare
    /// programs of their hooks (BPF_PROG_TEST_RUN), same run.
    Kernel,
    /// Small UDP and TCP bulk through a veth pair with and without
    /// pxe-monitor in each ingress mode, same run, as ratios.
    Veth,
    /// 10,000 planted PXE clients within 10 s through a live agent: every
    /// verdict, events lost, time to decide.
    Storm,
    /// A DHCP flood of 1,000,000 forged DISCOVERs with real boots in it
    /// through a live agent: events lost, RSS, scrape latency, verdicts.
    Flood,
    /// `pxe-monitor replay` against tshark on a 1M-frame capture built from
    /// the lab captures, and the session tracker alone.
    Replay,
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup::run(),
        Cmd::Lab {
            action: LabAction::Up,
        } => lab::up_command(),
        Cmd::Lab {
            action: LabAction::Down,
        } => lab::down_command(),
        Cmd::Lab {
            action:
                LabAction::Scenario {
                    name,
                    firmware,
                    out,
                },
        } => xtask::e2e::run(xtask::e2e::Options {
            scenarios: vec![name],
            firmware,
            jobs: 2,
            out,
        }),
        Cmd::Demo { stay } => demo::run(stay),
        Cmd::Test => test::run(),
        Cmd::Fuzz {
            seconds,
            runs,
            targets,
            jobs,
        } => {
            let budget = runs.map_or(
                xtask::fuzz::Budget::Seconds(seconds),
                xtask::fuzz::Budget::Runs,
            );
            xtask::fuzz::run(budget, &targets, jobs).map(|_| ())
        }
        Cmd::Package { revision, boot } => xtask::package::run(revision.as_deref(), boot),
        Cmd::E2e { list: true, .. } => {
            for s in xtask::e2e::SCENARIOS {
                println!("{:<26} {}", s.name, s.about);
            }
            println!(
                "{:<26} {} light PXE clients (udhcpc + atftp) within a second against dnsmasq, and {} planted clients over {} s",
                xtask::e2e::STORM,
                xtask::e2e::STORM_CLIENTS,
                xtask::e2e::PLANTED_CLIENTS,
                xtask::e2e::PLANTED_SECONDS
            );
            println!(
                "{:<26} an IP phone's DHCP and TFTP on the boot network: reported as transfers, never a boot",
                xtask::e2e::PHONE
            );
            Ok(())
        }
        Cmd::E2e {
            scenarios,
            firmware,
            jobs,
            out,
            list: false,
        } => xtask::e2e::run(xtask::e2e::Options {
            scenarios,
            firmware,
            jobs,
            out,
        }),
        Cmd::Container { save, no_image } => {
            xtask::container::run(xtask::container::Options { save, no_image })
        }
        Cmd::Bench {
            what: BenchWhat::Kernel,
        } => xtask::bench::kernel(),
        Cmd::Bench {
            what: BenchWhat::Veth,
        } => xtask::bench::veth(),
        Cmd::Bench {
            what: BenchWhat::Replay,
        } => xtask::bench::replay(),
        Cmd::Bench {
            what: BenchWhat::Storm,
        } => xtask::bench::storm(),
        Cmd::Bench {
            what: BenchWhat::Flood,
        } => xtask::bench::flood(),
    }
}
