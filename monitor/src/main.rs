//! pxe-monitor: watches PXE network-boot traffic with eBPF and exports it to
//! Prometheus. This file only parses the command line and dispatches.

use std::io::IsTerminal as _;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use monitor::{
    agent,
    cli::{self, Cli, Command, Format, LogFormat, ReplayArgs},
    kernel, replay, report,
};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's message (or --help / --version), then what it cannot
            // know; clap's exit code (2 for a bad command line, which the
            // packaged unit does not restart on).
            let _ = e.print();
            if let Some(hint) = cli::usage_hint(&e) {
                eprintln!("\n{hint}");
            }
            std::process::exit(e.exit_code());
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => log.json().init(),
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let result = match cli.command {
        Command::Run(args) => agent::run(args),
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

fn replay(args: ReplayArgs) -> Result<()> {
    let opts = replay::Options {
        max_sessions: args.max_sessions.map(|n| n as usize),
        timeline: args.format == Format::Text,
        tftp_only: args.tftp_only_clients.into(),
        flood_clients: args.flood_clients,
        web_ports: args.web.web_ports()?,
    };
    let replayed = replay::replay(&args.files, opts)?;
    if let (true, Some(max)) = (replayed.evicted > 0, args.max_sessions) {
        tracing::warn!(
            "{} client(s) were closed early because more than --max-sessions {max} were open at once; their verdicts use the evidence up to then",
            replayed.evicted
        );
    }
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Text => report::write_text(&mut out, &replayed.verdicts),
        Format::Json => report::write_json(&mut out, &replayed.verdicts),
    };
    let flushed = written.and_then(|()| std::io::Write::flush(&mut out));
    match flushed {
        // The reader went away (`| head`): a normal end.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing the verdicts"),
    }
}

/// Loads and verifies every program and prints what the verifier measured.
fn check() -> Result<()> {
    let report = kernel::check()?;
    println!(
        "{:<16} {:<14} {:>12} {:>20}",
        "program", "type", "instructions", "verifier processed"
    );
    let show = |n: Option<u32>| n.map_or_else(|| "n/a".to_owned(), |n| n.to_string());
    for p in &report.programs {
        println!(
            "{:<16} {:<14} {:>12} {:>20}",
            p.name,
            p.kind,
            show(p.instructions),
            show(p.verified)
        );
    }
    println!();
    println!("{:<16} {:<14} {:>12}", "map", "type", "entries");
    for m in &report.maps {
        let entries = m.entries.map_or_else(String::new, |n| n.to_string());
        println!("{:<16} {:<14} {entries:>12}", m.name, m.kind);
    }
    Ok(())
}
