//! Command line (clap derive).

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "pxe-monitor",
    version,
    about = "Watches PXE network-boot traffic (DHCP, proxyDHCP, TFTP) with eBPF and exports Prometheus metrics"
)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `pxe_monitor=debug`.
    #[arg(long, global = true, default_value = "info", env = "PXE_MONITOR_LOG")]
    pub log: String,
    /// Log lines as text or as JSON objects (for log pipelines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Attach to interfaces and serve /metrics until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Load and verify every program, print verifier statistics, exit.
    Check,
    /// Read capture files (pcap, pcapng) and tell how each PXE client's
    /// boot went.
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Capture files, read in order (Ethernet, Linux cooked SLL/SLL2 or BSD
    /// loopback).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// `text`: a timeline and the verdict per client; `json`: one object per
    /// client and line (see the README for the fields).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Clients followed at once; the oldest is dropped when full.
    #[arg(long, value_name = "N", default_value_t = 65536)]
    pub max_sessions: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Interface to watch (repeat for several). Must exist in the network
    /// namespace pxe-monitor runs in.
    #[arg(short, long = "interface", value_name = "IF", required = true)]
    pub interfaces: Vec<String>,
    /// Address for the HTTP server (/metrics, /healthz).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9567")]
    pub listen: SocketAddr,
    /// How to attach the XDP program.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// Attach to interfaces inside this named network namespace
    /// (/run/netns/NAME, as made by `ip netns add`); the HTTP server stays
    /// in the namespace pxe-monitor was started in.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Size of each interface's event ring buffer in bytes (a power of two;
    /// one DHCP event takes 272 bytes). When it is full, events are counted
    /// in pxe_events_lost_total.
    #[arg(long, value_name = "BYTES", default_value_t = monitor_common::counters::maps::EVENTS_BYTES,
          value_parser = parse_ring_bytes)]
    pub ring_buffer_bytes: u32,
    /// PXE transactions (DHCP xids started by boot clients) remembered per
    /// interface; the oldest is forgotten when full.
    #[arg(long, value_name = "N", default_value_t = monitor_common::counters::maps::PXE_XIDS_LEN,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pxe_transactions: u32,
    /// TFTP transfers followed per interface; the oldest is forgotten when
    /// full.
    #[arg(long, value_name = "N", default_value_t = monitor_common::counters::maps::TFTP_FLOWS_LEN,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tftp_transfers: u32,
    /// Attach the do-nothing XDP program instead of the monitor (and no TC):
    /// the baseline of `cargo xtask bench veth`.
    #[arg(long, hide = true)]
    pub bench_bare_xdp: bool,
    /// Sessions followed at once per agent; the oldest is dropped when full.
    #[arg(long, value_name = "N", default_value_t = 65536)]
    pub max_sessions: usize,
    /// DHCP/PXE servers that get a `server` label of their own in
    /// pxe_dhcp_offers_total and pxe_server_warnings (the first seen);
    /// later ones are counted as `other`.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_server_labels: usize,
    /// Finished sessions kept for /api/sessions.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub recent_sessions: usize,
    /// Also deliver the failure-spike alert to this Alertmanager (its v2
    /// alerts API), e.g. http://127.0.0.1:9093; retried while it is down.
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,
    /// Failure-spike alert: the sliding window, in seconds.
    #[arg(long, value_name = "S", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_window: u64,
    /// Failure-spike alert: boots decided in the window before it can fire.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub alert_min_sessions: usize,
    /// Failure-spike alert: the failed share (0..1) at which it fires.
    #[arg(long, value_name = "RATIO", default_value_t = 0.5, value_parser = parse_ratio)]
    pub alert_failure_ratio: f64,
    /// Do not attach the TC egress program (then a monitor on the DHCP/PXE
    /// server itself does not see its own replies).
    #[arg(long)]
    pub no_egress: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpModeArg {
    /// Native (driver) mode, falling back to generic (skb) mode with a warning.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Skb,
}

fn parse_ring_bytes(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if n < 4096 || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two of at least 4096"));
    }
    Ok(n)
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&r) || r == 0.0 {
        return Err(format!("{r} is not a ratio in (0, 1]"));
    }
    Ok(r)
}
