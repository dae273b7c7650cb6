//! pxe-monitor: watches PXE network-boot traffic with eBPF and exports it to
//! Prometheus.

use std::{io::IsTerminal as _, sync::Arc};

use anyhow::{Context as _, Result};
use aya::programs::{SchedClassifier, Xdp};
use clap::Parser as _;
use monitor::{
    cli::{Cli, Command, RunArgs},
    http,
    kernel::{self as probe, Probe, TC_PROGRAM, XDP_PROGRAM},
    live, metrics, netns,
};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        monitor::cli::LogFormat::Json => log.json().init(),
        monitor::cli::LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Check => check(),
        Command::Replay(args) => replay(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pxe-monitor: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<()> {
    // Flags first: nothing is attached when one is wrong.
    let webhook_target = args
        .alertmanager_url
        .as_deref()
        .map(monitor::alert::webhook::Target::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--alertmanager-url: {e}"))?;
    let mut probes = Vec::new();
    for iface in &args.interfaces {
        // On error, probes attached so far are dropped (detached) here.
        let sizes = probe::MapSizes {
            ring_bytes: args.ring_buffer_bytes,
            pxe_xids: args.max_pxe_transactions,
            tftp_flows: args.max_tftp_transfers,
        };
        let egress = !args.no_egress && !args.bench_bare_xdp;
        let attach = || Probe::attach(iface, args.xdp_mode, egress, &sizes, args.bench_bare_xdp);
        let probe = match &args.netns {
            Some(ns) => netns::in_netns(ns, attach)??,
            None => attach()?,
        };
        probes.push(probe);
    }
    let mut rings = Vec::new();
    for p in &mut probes {
        rings.push((
            p.interface.clone(),
            p.take_events().context("opening the event ring buffer")?,
        ));
    }
    let registry = metrics::agent_registry(&probes).context("building the metrics registry")?;
    // IntCounterVec clones share their values.
    let received = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "pxe_events_received_total",
            "Event records read from the kernel, by interface and kind (malformed: skipped).",
        ),
        &["interface", "kind"],
    )
    .context("defining pxe_events_received_total")?;
    for (iface, _) in &rings {
        for kind in ["dhcp", "icmp_unreachable", "tftp", "malformed"] {
            received.with_label_values(&[iface.as_str(), kind]);
        }
    }
    registry
        .register(Box::new(received.clone()))
        .context("registering pxe_events_received_total")?;
    let kernel = Arc::new(metrics::KernelCollector::new(probes));
    registry
        .register(Box::new(ArcCollector(kernel.clone())))
        .context("registering kernel counters")?;

    let sessions = Arc::new(live::Recent::new(args.recent_sessions));
    let session_metrics = live::SessionMetrics::register(&registry, args.max_server_labels)
        .context("registering the session metrics")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(live::EVENT_QUEUE);
        let tracker = {
            let sessions = sessions.clone();
            let max = args.max_sessions;
            let kernel = kernel.clone();
            let metrics = session_metrics.clone();
            let webhook = webhook_target.clone().map(|target| {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let interfaces = args.interfaces.join(",");
                tokio::spawn(monitor::alert::webhook::deliver(target, interfaces, rx, 10));
                tx
            });
            let spike = monitor::alert::SpikeConfig {
                window_ns: args.alert_window * 1_000_000_000,
                min_sessions: args.alert_min_sessions,
                failure_ratio: args.alert_failure_ratio,
            };
            tokio::spawn(async move {
                live::track(rx, &sessions, max, &kernel, &metrics, spike, webhook).await
            })
        };
        let readers: Vec<_> = rings
            .into_iter()
            .map(|(iface, ring)| {
                tokio::spawn(probe::ring::read(iface, ring, received.clone(), tx.clone()))
            })
            .collect();
        drop(tx);
        let listener = http::bind(args.listen).await?;
        info!(listen = %listener.local_addr()?, "serving /metrics, /healthz and /api/sessions");
        let app = http::router(http::AppState {
            registry: Arc::new(registry),
            sessions: sessions.clone(),
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("HTTP server")?;
        readers.iter().for_each(|r| r.abort());
        tracker.abort();
        anyhow::Ok(())
    })?;
    kernel.detach_all();
    info!("detached; exiting");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops pxe-monitor");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        _ = term.recv() => info!("SIGTERM received"),
    }
}

fn replay(args: monitor::cli::ReplayArgs) -> Result<()> {
    let timeline = args.format == monitor::cli::Format::Text;
    let verdicts = monitor::replay::verdicts(&args.files, args.max_sessions, timeline)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        monitor::cli::Format::Text => monitor::replay::write_text(&mut out, &verdicts)?,
        monitor::cli::Format::Json => monitor::replay::write_json(&mut out, &verdicts)?,
    }
    Ok(())
}

/// Lets the registry own a shared handle to the kernel collector.
struct ArcCollector(Arc<metrics::KernelCollector>);

impl prometheus::core::Collector for ArcCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}

/// Loads and verifies every program and prints what the verifier measured.
fn check() -> Result<()> {
    let ebpf = probe::load()?;
    println!(
        "{:<16} {:<14} {:>12} {:>20}",
        "program", "type", "instructions", "verifier processed"
    );
    for (name, kind) in [(XDP_PROGRAM, "xdp"), (TC_PROGRAM, "tc classifier")] {
        let prog = ebpf
            .program(name)
            .context("program missing from the object")?;
        let info = match kind {
            "xdp" => <&Xdp>::try_from(prog)?.info()?,
            _ => <&SchedClassifier>::try_from(prog)?.info()?,
        };
        let show = |n: Option<u32>| n.map_or_else(|| "n/a".to_owned(), |n| n.to_string());
        // Translated size in bytes; a BPF instruction is 8 bytes.
        let insns = show(info.size_translated().map(|b| b / 8));
        let processed = show(info.verified_instruction_count());
        println!("{name:<16} {kind:<14} {insns:>12} {processed:>20}");
    }
    println!();
    println!("{:<16} {:<14} {:>12}", "map", "type", "entries");
    for (name, map) in ebpf.maps() {
        let entries = match map {
            aya::maps::Map::PerCpuArray(d) | aya::maps::Map::Array(d) => d
                .info()
                .map(|i| i.max_entries().to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        println!("{name:<16} {:<14} {entries:>12}", map_kind(map));
    }
    Ok(())
}

fn map_kind(map: &aya::maps::Map) -> &'static str {
    match map {
        aya::maps::Map::PerCpuArray(_) => "percpu_array",
        aya::maps::Map::Array(_) => "array",
        _ => "other",
    }
}
