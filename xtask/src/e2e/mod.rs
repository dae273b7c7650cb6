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
//!
//! Here: the matrix itself (the queue of runs, the workers, the output
//! directory and the check that nothing was left behind); one run, its
//! checks, the verdicts, the report, the scenarios, the boot storm and the
//! IP phone (a TFTP client that is not booting) are in the submodules.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    sync::Mutex,
    thread,
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    agent,
    lab::{self, Firmware},
    proc::processes_using,
};

mod check;
mod light;
mod phone;
mod report;
mod run;
mod scenarios;
mod storm;
mod verdict;

use phone::phone_line;
pub use phone::{PHONE, Phone, phone};
use report::line;
pub use report::{Run, View, table};
use run::run_one;
pub use scenarios::{Expect, Placement, SCENARIOS, Scenario, Watch};
use storm::storm_line;
pub use storm::{PLANTED_CLIENTS, PLANTED_SECONDS, STORM, STORM_CLIENTS, Storm, storm};
pub use verdict::Verdict;

/// Runs at once by default. The long runs wait on firmware timeouts, not on
/// the CPU: on 2 cores a run takes up to 1.5 times as long as alone (healthy
/// UEFI: 13 s against 9 s), the matrix a third.
pub const DEFAULT_JOBS: usize = 4;

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
        vec![
            Firmware::Bios,
            Firmware::Uefi,
            Firmware::UefiHttp,
            Firmware::Uefi6,
            Firmware::UefiHttp6,
            Firmware::UefiChain,
        ]
    } else {
        opts.firmware
    };
    for name in &opts.scenarios {
        if name != STORM && name != PHONE && !SCENARIOS.iter().any(|s| s.name == name) {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            bail!(
                "no scenario {name:?}; there are: {}, {STORM}, {PHONE}",
                names.join(", ")
            );
        }
    }
    let with_storm = opts.scenarios.is_empty() || opts.scenarios.iter().any(|n| n == STORM);
    let with_phone = opts.scenarios.is_empty() || opts.scenarios.iter().any(|n| n == PHONE);
    // UEFI runs first: they take longest.
    let mut queue: VecDeque<(&Scenario, Firmware)> = VecDeque::new();
    for fw in firmware.iter().rev() {
        for s in SCENARIOS {
            let named = opts.scenarios.is_empty() || opts.scenarios.iter().any(|n| n == s.name);
            if named && s.expect(*fw).is_some() {
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
    // A run killed before its clean-up (the machine restarted, say) leaves
    // empty namespaces that would make every lab here refuse to come up.
    let swept = lab::sweep_abandoned()?;
    if !swept.is_empty() {
        println!(
            "e2e: deleted {} namespace(s) a killed run left behind, with no process in them: {}",
            swept.len(),
            swept.join(", ")
        );
    }
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
    let phone = with_phone.then(|| {
        let p = phone(&bin, 1, &out);
        println!("{}", phone_line(&p));
        p
    });
    let mut table = table(&runs);
    if let Some(st) = &storm {
        let _ = writeln!(table, "\n{}", storm_line(st));
    }
    if let Some(p) = &phone {
        let _ = writeln!(table, "\n{}", phone_line(p));
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
    if let Some(p) = phone.as_ref().filter(|p| !p.problems.is_empty()) {
        for problem in &p.problems {
            eprintln!("FAILED {PHONE}: {problem}");
        }
        bail!("the IP phone run failed");
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
}
