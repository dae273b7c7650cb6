//! `pxe-monitor run`: wires the layers together — the kernel probes, a
//! ring-buffer reader per interface, the session tracker's live driver,
//! the metrics, the alert sinks and the HTTP server — and takes them down
//! in order on SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::{
    alert::{
        SpikeConfig,
        body::Source,
        config::Settings,
        deliver::{self, Client},
    },
    cli::RunArgs,
    http,
    kernel::{AttachOptions, MapSizes, Probe, Probes, ring},
    live, metrics,
    metrics::{alerts::DeliveryMetrics, kernel::KernelCollector, sessions::SessionMetrics},
    netns, page, privilege,
    recent::Recent,
    session::{Timeouts, Tracker},
    web,
};

pub fn run(args: RunArgs) -> Result<()> {
    // Flags first: nothing is attached when one is wrong.
    let alertmanager = match &args.alertmanager_url {
        Some(url) => Some(alertmanager_client(
            url,
            args.alertmanager_config.as_deref(),
        )?),
        None => None,
    };
    let web = args
        .web_config_file
        .as_deref()
        .map(web::WebState::load)
        .transpose()
        .context("--web.config.file")?
        .map(Arc::new);
    let run_as = privilege::RunAs::resolve(args.user.as_deref())?;
    for file in web
        .as_ref()
        .map(|w| w.files())
        .iter()
        .flat_map(|f| run_as.unreadable(f))
    {
        warn!(
            file = %file.display(),
            user = %run_as.account().name,
            "--web.config.file: this file is read again when it changes (a renewed certificate), \
             but the user pxe-monitor runs as after attaching cannot read it: a change will not be \
             taken until a restart (make it readable by that user, e.g. its group and mode 0640)"
        );
    }
    let sizes = MapSizes {
        ring_bytes: args.ring_buffer_bytes,
        pxe_xids: args.max_pxe_transactions,
        tftp_flows: args.max_tftp_transfers,
        web_ports: args.web.web_ports()?,
    };
    let mut probes = Vec::new();
    for iface in &args.interfaces {
        // On error, probes attached so far are dropped (detached) here.
        let opts = AttachOptions {
            ingress: args.ingress.into(),
            egress: !args.no_egress && !args.bench_bare,
            bare: args.bench_bare,
            kernel_log: args.kernel_log,
        };
        let attach = || Probe::attach(iface, &opts, &sizes);
        let probe = match &args.netns {
            Some(ns) => netns::in_netns(ns, attach)??,
            None => attach()?,
        };
        probes.push(probe);
    }
    let mut rings = Vec::new();
    let mut kernel_logs = Vec::new();
    for p in &mut probes {
        rings.push((
            p.interface.clone(),
            p.take_events().context("opening the event ring buffer")?,
        ));
        kernel_logs.extend(p.take_kernel_log());
    }
    let probes = Arc::new(Probes::new(probes));
    let registry =
        metrics::agent_registry(&probes.attachments()).context("building the metrics registry")?;
    // IntCounterVec clones share their values.
    let received = metrics::kernel::events_received(&args.interfaces)
        .context("defining pxe_events_received_total")?;
    registry
        .register(Box::new(received.clone()))
        .context("registering pxe_events_received_total")?;
    registry
        .register(Box::new(KernelCollector::new(probes.clone())))
        .context("registering kernel counters")?;
    let recent = Arc::new(Recent::new(args.recent_sessions as usize));
    let session_metrics = SessionMetrics::register(&registry, args.max_server_labels as usize)
        .context("registering the session metrics")?;
    let alertmanager = match alertmanager {
        Some(client) => Some((
            client,
            DeliveryMetrics::register(&registry)
                .context("registering the alert delivery metrics")?,
        )),
        None => None,
    };
    let tracker = Tracker::new(args.max_sessions as usize, Timeouts::default())
        .without_timeline()
        .with_measurements()
        .with_early_verdicts()
        .counting_floods()
        .with_tftp_only(args.tftp_only_clients.into())
        .with_flood_bound(args.flood_clients);
    let spike = SpikeConfig {
        window_ns: args.alert_window * 1_000_000_000,
        min_sessions: args.alert_min_sessions as usize,
        failure_ratio: args.alert_failure_ratio,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The last privileged step (a port below 1024 needs privilege), then the
    // drop, before any thread starts. On failure the probes drop: detached.
    let listener = rt.block_on(http::bind(args.listen))?;
    privilege::drop_privileges(
        &run_as,
        &privilege::needed_after_attach(&probes.attachments()),
    )?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(live::EVENT_QUEUE);
        let alertmanager = alertmanager.map(|(client, metrics)| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let source = Source::local(&args.interfaces);
            tokio::spawn(deliver::deliver(
                client,
                source,
                deliver::Schedule::default(),
                metrics,
                rx,
            ));
            tx
        });
        let servers = session_metrics.servers.clone();
        let sinks = live::Sinks {
            recent: recent.clone(),
            metrics: session_metrics,
            spike,
            alertmanager,
        };
        // The tracker has a thread (and a runtime) of its own: however busy a
        // flood keeps it, the HTTP server and the ring-buffer readers are
        // not held up (a scrape stays fast).
        let tracking = {
            let probes = probes.clone();
            std::thread::Builder::new()
                .name("tracker".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match rt {
                        Ok(rt) => rt.block_on(live::track(rx, tracker, &probes, sinks)),
                        Err(e) => tracing::error!(error = %e, "cannot start the tracker's runtime"),
                    }
                })
                .context("starting the tracker thread")?
        };
        let readers: Vec<_> = rings
            .into_iter()
            .map(|(iface, r)| tokio::spawn(ring::read(iface, r, received.clone(), tx.clone())))
            .collect();
        drop(tx);
        let log_readers: Vec<_> = kernel_logs
            .into_iter()
            .map(|l| tokio::spawn(crate::kernel::log::forward(l)))
            .collect();
        let tls = web.as_ref().is_some_and(|w| w.tls());
        info!(listen = %listener.local_addr()?, tls, "serving /metrics, /healthz and /api/sessions");
        let app = http::router(http::AppState {
            registry: Arc::new(registry),
            sessions: recent,
            servers,
            about: Arc::new(page::About {
                version: env!("CARGO_PKG_VERSION"),
                interfaces: args.interfaces.clone(),
            }),
        });
        web::serve(listener, app, web, shutdown_signal())
            .await
            .context("HTTP server")?;
        // The readers hold the queue's senders: once they are gone the
        // tracker's loop ends.
        readers.iter().chain(&log_readers).for_each(|r| r.abort());
        drop(tracking);
        anyhow::Ok(())
    })?;
    probes.detach_all();
    info!("detached; exiting");
    Ok(())
}

/// The Alertmanager client of `--alertmanager-url` and
/// `--alertmanager-config`, every file they name read and checked.
fn alertmanager_client(url: &str, config: Option<&std::path::Path>) -> Result<Client> {
    let settings = Settings::load(url, config)?;
    let file = config.map(|f| f.display().to_string());
    if settings.tls.insecure_skip_verify {
        warn!(
            config = file,
            "tls_config.insecure_skip_verify: the Alertmanager's certificate is not checked"
        );
    }
    if settings.basic_auth.is_some() && settings.url.scheme() == "http" && !loopback(&settings) {
        warn!(
            target = settings.target(),
            "basic_auth over http://: the password crosses the network unencrypted; use https://"
        );
    }
    let client = Client::new(settings).with_context(|| match &file {
        Some(f) => format!("--alertmanager-config {f}"),
        None => "--alertmanager-url".to_owned(),
    })?;
    info!(
        target = client.settings().target(),
        basic_auth = client.settings().basic_auth.is_some(),
        client_certificate = client.settings().tls.identity.is_some(),
        "delivering the failure-spike alert to Alertmanager"
    );
    Ok(client)
}

fn loopback(s: &Settings) -> bool {
    match s.url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback()),
        None => false,
    }
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
