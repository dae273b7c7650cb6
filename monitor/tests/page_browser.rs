//! The landing page in a real browser (Debian's Chromium, headless): the
//! agent's routes serve the verdicts of two lab captures replayed — the
//! KB 259670 failure (PXE-E55) and a boot that worked with option 60 on the
//! DHCP server (a server warning) — plus a copy of the failure whose boot
//! file and cause hold markup and a terminal escape, as a crafted packet
//! could. Checked as a person would look: the failure's code, console
//! text, cause and fix, the server warning, the links; the markup shown as
//! text (no element made of it, no script run: the title stays); and a
//! screenshot in `target/test-output/landing-page.png`.
//!
//! Needs `../shared/fixtures` and Chromium (`cargo xtask setup` installs
//! it); skipped without them, failing instead when CI=true.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use monitor::{
    cli::TftpOnlyArg,
    http::{self, AppState},
    metrics::sessions::SessionMetrics,
    page,
    recent::Recent,
    replay::{self, Options},
    testing,
    verdict::Outcome,
};
use prometheus::Registry;

/// Serves the agent's routes on a loopback port from a thread of its own.
fn serve(state: AppState) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, http::router(state)).await.unwrap();
        });
    });
    addr
}

/// Chromium headless with the flags this closed network needs (no
/// background connections), a profile of its own, and `args`.
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("running chromium")
}

#[test]
fn the_landing_page_shows_failures_and_warnings_in_a_browser() {
    let Some(fixtures) = testing::fixtures_dir() else {
        return;
    };
    if !testing::has_program("chromium", "chromium") {
        return;
    }
    let lab = fixtures.join("lab-pcaps");
    // In the order they were taken: the failure, then (19 s later, the
    // same machine) the boot that worked.
    let files: Vec<PathBuf> = [
        "b-kb259670-option60-no-proxy.pcap",
        "b3-option60-with-next-server.pcap",
    ]
    .iter()
    .map(|f| lab.join(f))
    .collect();
    let replayed = replay::replay(
        &files,
        Options {
            max_sessions: None,
            timeline: false,
            tftp_only: TftpOnlyArg::Transfers.into(),
            flood_clients: monitor::session::FLOOD_NEW_CLIENTS_PER_S,
            web_ports: Default::default(),
        },
    )
    .expect("replaying the lab captures");
    let registry = Registry::new();
    let metrics = SessionMetrics::register(&registry, 16).unwrap();
    let recent = Arc::new(Recent::new(100));
    let mut verdicts = replayed.verdicts;
    let mut crafted = verdicts
        .iter()
        .find(|v| v.outcome == Outcome::Failed)
        .expect("the KB 259670 capture's failure")
        .clone();
    crafted.client_mac[5] ^= 0xff;
    crafted.boot_file =
        Some("<img src=x onerror=\"document.title='owned'\">\u{1b}[2Jboot.efi".into());
    crafted.cause = Some("<script>document.title='owned'</script>a cause".into());
    verdicts.push(crafted);
    for v in &verdicts {
        metrics.record(v);
        recent.push(v.clone());
    }
    let addr = serve(AppState {
        registry: Arc::new(registry),
        sessions: recent,
        servers: metrics.servers.clone(),
        about: Arc::new(page::About {
            version: env!("CARGO_PKG_VERSION"),
            interfaces: vec!["srv0".into()],
        }),
    });
    let url = format!("http://{addr}/");

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output");
    std::fs::create_dir_all(&out).unwrap();
    let profile = out.join(format!("chromium-profile-{}", std::process::id()));
    let dom = chromium(&profile, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    for want in [
        "<title>pxe-monitor</title>",
        "PXE-E55",
        "client 52:54:00:",
        "Microsoft KB 259670",
        "remove options 60, 66 and 67 from the DHCP server 10.77.10.1",
        "sends option 60 PXEClient with its addresses",
        "option60_on_dhcp_server",
        "href=\"metrics\"",
        "href=\"api/sessions\"",
        "interfaces: srv0",
        "Of the 3 recent verdicts kept: 1 booted, 2 failed",
        // The crafted strings, shown as text.
        "&lt;script&gt;document.title='owned'&lt;/script&gt;a cause",
        "&lt;img src=x onerror=\"document.title='owned'\"&gt;\\u{1b}[2Jboot.efi",
    ] {
        assert!(dom.contains(want), "{want:?} not on the page:\n{dom}");
    }
    assert!(
        !dom.contains("<img"),
        "markup from the wire became an element:\n{dom}"
    );
    assert!(
        !dom.contains("<script"),
        "markup from the wire became an element:\n{dom}"
    );
    assert_eq!(dom.matches("class=\"failure\"").count(), 2, "{dom}");

    let shot = out.join("landing-page.png");
    let _ = std::fs::remove_file(&shot);
    let taken = chromium(
        &profile,
        &[
            "--window-size=1200,1400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}): {}",
            shot.display(),
            String::from_utf8_lossy(&taken.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("landing page screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&profile);
}
