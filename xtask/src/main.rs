//! Project tasks: `cargo xtask setup | lab up|down | demo | test`.

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
        action: lab::LabAction,
    },
    /// The lab, pxe-monitor on the server's interface and a real iPXE client
    /// booting, with a live summary; Ctrl-C to stop.
    Demo {
        /// Stop after this many seconds (for scripts).
        #[arg(long, value_name = "S")]
        duration: Option<u64>,
    },
    /// Every test, set-up first.
    Test,
    /// Benchmarks (root; needs ../shared/fixtures).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// ns per frame of the XDP program against a bare XDP_PASS program
    /// (BPF_PROG_TEST_RUN), same run.
    Kernel,
    /// Packets per second through a veth pair with and without pxe-monitor,
    /// same run, as a ratio.
    Veth,
    /// `pxe-monitor replay` against tshark on a 1M-frame capture built from
    /// the lab captures, and the session tracker alone.
    Replay,
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup::run(),
        Cmd::Lab { action } => lab::run(action),
        Cmd::Demo { duration } => demo::run(duration),
        Cmd::Test => test::run(),
        Cmd::Bench {
            what: BenchWhat::Kernel,
        } => xtask::bench::kernel(),
        Cmd::Bench {
            what: BenchWhat::Veth,
        } => xtask::bench::veth(),
        Cmd::Bench {
            what: BenchWhat::Replay,
        } => xtask::bench::replay(),
    }
}
