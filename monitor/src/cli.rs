//! The command line (clap derive): every flag, its default and its bounds,
//! checked before anything is loaded or attached.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{kernel::IngressHook, session::TftpOnlyClients};

/// Bounds of the sizing flags: large enough for any boot network, small
/// enough that a typo cannot take gigabytes of kernel memory.
pub mod limits {
    /// `--ring-buffer-bytes`: 256 MiB (about a million events).
    pub const RING_BYTES_MAX: u32 = 1 << 28;
    /// `--max-pxe-transactions`, `--max-tftp-transfers`.
    pub const TABLE_MAX: u32 = 1 << 20;
    /// `--max-sessions`.
    pub const SESSIONS_MAX: u64 = 1 << 24;
    /// `--recent-sessions`.
    pub const RECENT_MAX: u64 = 100_000;
    /// `--max-server-labels`.
    pub const SERVER_LABELS_MAX: u64 = 1024;
    /// `--alert-window`: a week.
    pub const ALERT_WINDOW_MAX: u64 = 7 * 24 * 3600;
}

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
    #[command(flatten)]
    pub web: WebPortArgs,
    /// `text`: a timeline and the verdict per client; `json`: one object per
    /// client and line (see the README for the fields).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Clients followed at once (default: no bound); when full, the oldest
    /// is closed early with the verdict its evidence gives, and the count
    /// of such clients is printed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=limits::SESSIONS_MAX))]
    pub max_sessions: Option<u64>,
    /// Clients seen only reading files over TFTP, with no PXE or HTTP-boot
    /// DHCP exchange in the capture.
    #[arg(long, value_enum, default_value_t = TftpOnlyArg::Transfers)]
    pub tftp_only_clients: TftpOnlyArg,
    /// New client MACs a second above which a DHCP flood is under way (as
    /// for `run`).
    #[arg(long, value_name = "N", default_value_t = crate::session::FLOOD_NEW_CLIENTS_PER_S,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub flood_clients: u32,
}

/// `--tftp-only-clients`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TftpOnlyArg {
    /// Report their transfers (outcome tftp_only), never a boot verdict:
    /// IP phones, switches and firmware upgrades read files over TFTP too.
    Transfers,
    /// Give each a boot verdict inferred from TFTP alone: for a monitor
    /// that cannot see DHCP (a TFTP-only server).
    Boots,
    /// `boots` until a DHCP message is seen, `transfers` after.
    Auto,
}

impl From<TftpOnlyArg> for TftpOnlyClients {
    fn from(a: TftpOnlyArg) -> Self {
        match a {
            TftpOnlyArg::Transfers => TftpOnlyClients::Transfers,
            TftpOnlyArg::Boots => TftpOnlyClients::Boots,
            TftpOnlyArg::Auto => TftpOnlyClients::Auto,
        }
    }
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
    #[command(flatten)]
    pub web: WebPortArgs,
    /// Address for the HTTP server (/metrics, /healthz).
    #[arg(
        long,
        visible_alias = "web.listen-address",
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:9567"
    )]
    pub listen: SocketAddr,
    /// TLS, client certificates and basic auth for the HTTP server, in the
    /// web configuration format of Prometheus's exporter-toolkit (as
    /// node_exporter's flag); read again when it or its certificates change.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<std::path::PathBuf>,
    /// Where the ingress program runs: `auto` (TC ingress, beside any other
    /// program; XDP only where TC cannot attach), `tc`, `xdp` (native XDP,
    /// which changes the driver's receive path for all traffic: see the
    /// README), or `xdp-generic`.
    #[arg(long, value_enum, default_value_t = IngressArg::Auto)]
    pub ingress: IngressArg,
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
    /// interface, and as many DHCPv6 ones; the oldest is forgotten when full.
    #[arg(long, value_name = "N", default_value_t = monitor_common::counters::maps::PXE_XIDS_LEN,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::TABLE_MAX)))]
    pub max_pxe_transactions: u32,
    /// TFTP transfers followed per interface beside the one each client
    /// port holds (a second live transfer on the same client port, from
    /// another client); the oldest is forgotten when full.
    #[arg(long, value_name = "N", default_value_t = monitor_common::counters::maps::TFTP_FLOWS_LEN,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::TABLE_MAX)))]
    pub max_tftp_transfers: u32,
    /// Attach the do-nothing programs instead of the monitor's, on the
    /// `--ingress` hook (and no egress): the baselines of `cargo xtask bench
    /// veth`.
    #[arg(long, hide = true)]
    pub bench_bare: bool,
    /// Sessions followed at once per agent; when full, the oldest is closed
    /// early with the verdict its evidence gives.
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u64).range(1..=limits::SESSIONS_MAX))]
    pub max_sessions: u64,
    /// Clients seen only reading files over TFTP, with no PXE or HTTP-boot
    /// DHCP exchange seen here.
    #[arg(long, value_enum, default_value_t = TftpOnlyArg::Transfers)]
    pub tftp_only_clients: TftpOnlyArg,
    /// New client MACs a second above which a DHCP flood is under way: its
    /// clients that send one DISCOVER and nothing else count as outcome
    /// `flood`, not as boot failures (a fleet of 10,000 booting within 10 s
    /// brings 1,000 a second).
    #[arg(long, value_name = "N", default_value_t = crate::session::FLOOD_NEW_CLIENTS_PER_S,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub flood_clients: u32,
    /// DHCP/PXE servers that get a `server` label of their own in
    /// pxe_dhcp_offers_total and pxe_server_warnings (the first seen);
    /// later ones are counted as `other`.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(0..=limits::SERVER_LABELS_MAX))]
    pub max_server_labels: u64,
    /// Finished sessions kept for /api/sessions.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=limits::RECENT_MAX))]
    pub recent_sessions: u64,
    /// Also deliver the failure-spike alert to this Alertmanager (its v2
    /// alerts API): http:// or https://, host, port and path prefix, e.g.
    /// https://am.example:9093/alertmanager; retried while it is down.
    /// Credentials go in --alertmanager-config, never here.
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,
    /// YAML, as under `alertmanagers:` in prometheus.yml: `basic_auth`
    /// (username, password or password_file), `tls_config` (ca_file,
    /// cert_file, key_file, server_name, insecure_skip_verify), `timeout`.
    /// Read and checked at start-up.
    #[arg(long, value_name = "FILE", requires = "alertmanager_url")]
    pub alertmanager_config: Option<std::path::PathBuf>,
    /// Failure-spike alert: the sliding window, in seconds.
    #[arg(long, value_name = "S", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=limits::ALERT_WINDOW_MAX))]
    pub alert_window: u64,
    /// Failure-spike alert: boots decided in the window before it can fire
    /// (at least 1).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=limits::SESSIONS_MAX))]
    pub alert_min_sessions: u64,
    /// Failure-spike alert: the failed share (0..1) at which it fires.
    #[arg(long, value_name = "RATIO", default_value_t = 0.5, value_parser = parse_ratio)]
    pub alert_failure_ratio: f64,
    /// Ask the kernel programs for their own records of rare conditions (the
    /// ring buffer full, a table insert failing, an impossible stage
    /// argument), shown at debug level (`--log pxe_monitor::kernel=debug`).
    /// Off by default: the level is set when the programs load.
    #[arg(long)]
    pub kernel_log: bool,
    /// Do not attach the TC egress program (then a monitor on the DHCP/PXE
    /// server itself does not see its own replies).
    #[arg(long)]
    pub no_egress: bool,
    /// The user to run as once attached (a name or a numeric uid; its
    /// primary group, no supplementary groups). Started as root, the default
    /// is `pxe-monitor` if that user exists, else `nobody`; `root` keeps
    /// uid 0 (to debug). Every capability the attachments do not need is
    /// dropped in any case.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

/// The web ports followed beyond 80 and 8080 (HTTP) and 443 (HTTPS):
/// TCP of boot clients to or from them is a boot stage.
#[derive(clap::Args, Debug, Default)]
pub struct WebPortArgs {
    /// Another port where boot files are served over HTTP (repeatable, up
    /// to 4).
    #[arg(long = "http-port", value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub http_ports: Vec<u16>,
    /// Another HTTPS port (repeatable, up to 4): its connections are
    /// followed as connections (the payload is encrypted).
    #[arg(long = "https-port", value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub https_ports: Vec<u16>,
}

impl WebPortArgs {
    /// The ports as the programs take them; more than four of a kind is
    /// refused, naming the flag.
    pub fn web_ports(&self) -> anyhow::Result<monitor_common::conn::WebPorts> {
        let mut w = monitor_common::conn::WebPorts::default();
        for (flag, given, out) in [
            ("--http-port", &self.http_ports, &mut w.http),
            ("--https-port", &self.https_ports, &mut w.https),
        ] {
            if given.len() > out.len() {
                anyhow::bail!(
                    "{flag} given {} times: at most {} extra ports of a kind are followed",
                    given.len(),
                    out.len()
                );
            }
            out[..given.len()].copy_from_slice(given);
        }
        Ok(w)
    }
}

/// `--ingress`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressArg {
    /// TC ingress; native XDP, then generic XDP, only where TC cannot attach.
    Auto,
    /// TC ingress only.
    Tc,
    /// Native (driver) XDP only.
    Xdp,
    /// Generic (skb) XDP only.
    XdpGeneric,
}

impl From<IngressArg> for IngressHook {
    fn from(a: IngressArg) -> Self {
        match a {
            IngressArg::Auto => IngressHook::Auto,
            IngressArg::Tc => IngressHook::Tc,
            IngressArg::Xdp => IngressHook::Xdp,
            IngressArg::XdpGeneric => IngressHook::XdpGeneric,
        }
    }
}

/// Said after clap's error when `run` has no `--interface`: which flag,
/// and where the packaged service takes its flags from (it runs
/// `pxe-monitor run $ARGS`, so an unconfigured install ends here).
pub const INTERFACE_HINT: &str = "pxe-monitor run watches the interfaces named with --interface (repeatable), \
e.g. `pxe-monitor run --interface eth0`. Installed from the Debian package, the pxe-monitor service takes its \
flags from ARGS in /etc/default/pxe-monitor: set ARGS=\"--interface IF\" there, then `systemctl restart pxe-monitor`.";

/// What to print after clap's error `e`, if anything: [`INTERFACE_HINT`]
/// when the missing argument is `--interface`.
pub fn usage_hint(e: &clap::Error) -> Option<&'static str> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::MissingRequiredArgument {
        return None;
    }
    let missing_interface = matches!(
        e.get(ContextKind::InvalidArg),
        Some(ContextValue::Strings(args)) if args.iter().any(|a| a.starts_with("--interface"))
    );
    missing_interface.then_some(INTERFACE_HINT)
}

fn parse_ring_bytes(s: &str) -> Result<u32, String> {
    let limits = format!(
        "a power of two from 4096 to {} (256 MiB)",
        limits::RING_BYTES_MAX
    );
    let n: u64 = s.parse().map_err(|e| format!("{e}; expected {limits}"))?;
    if !(4096..=u64::from(limits::RING_BYTES_MAX)).contains(&n) || !n.is_power_of_two() {
        return Err(format!("{n} is not {limits}"));
    }
    Ok(n as u32)
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&r) || r == 0.0 {
        return Err(format!("{r} is not a ratio in (0, 1]"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn run_error(flags: &[&str]) -> String {
        let args = ["pxe-monitor", "run", "--interface", "eth0"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(args) {
            Ok(cli) => panic!("{flags:?} accepted: {cli:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn run_without_an_interface_names_the_flag_and_the_defaults_file() {
        let e = Cli::try_parse_from(["pxe-monitor", "run"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let hint = usage_hint(&e).expect("a hint for the missing --interface");
        assert!(
            hint.contains("--interface") && hint.contains("/etc/default/pxe-monitor"),
            "{hint}"
        );
        // Other errors get none.
        let e = Cli::try_parse_from([
            "pxe-monitor",
            "run",
            "--interface",
            "eth0",
            "--max-sessions",
            "0",
        ])
        .unwrap_err();
        assert_eq!(usage_hint(&e), None);
        let e = Cli::try_parse_from(["pxe-monitor", "replay"]).unwrap_err();
        assert_eq!(usage_hint(&e), None);
    }

    #[test]
    fn sizes_out_of_range_name_the_flag_and_its_limits() {
        let e = run_error(&["--max-pxe-transactions", "4294967295"]);
        assert!(
            e.contains("--max-pxe-transactions") && e.contains("1..=1048576"),
            "{e}"
        );
        let e = run_error(&["--max-tftp-transfers", "0"]);
        assert!(
            e.contains("--max-tftp-transfers") && e.contains("1..=1048576"),
            "{e}"
        );
        let e = run_error(&["--ring-buffer-bytes", "2147483648"]);
        assert!(
            e.contains("--ring-buffer-bytes") && e.contains("4096 to 268435456"),
            "{e}"
        );
        let e = run_error(&["--ring-buffer-bytes", "5000"]);
        assert!(e.contains("power of two"), "{e}");
        let e = run_error(&["--alert-min-sessions", "0"]);
        assert!(e.contains("--alert-min-sessions"), "{e}");
        let e = run_error(&["--max-sessions", "0"]);
        assert!(e.contains("--max-sessions"), "{e}");
        // The largest accepted values parse.
        let ok = Cli::try_parse_from([
            "pxe-monitor",
            "run",
            "--interface",
            "eth0",
            "--ring-buffer-bytes",
            "268435456",
            "--max-pxe-transactions",
            "1048576",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn node_exporter_web_flags_parse() {
        let cli = Cli::try_parse_from([
            "pxe-monitor",
            "run",
            "--interface",
            "eth0",
            "--web.listen-address",
            "0.0.0.0:9567",
            "--web.config.file",
            "/etc/pxe-monitor/web.yml",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.listen, "0.0.0.0:9567".parse().unwrap());
        assert_eq!(
            args.web_config_file.as_deref(),
            Some(std::path::Path::new("/etc/pxe-monitor/web.yml"))
        );
    }
}
