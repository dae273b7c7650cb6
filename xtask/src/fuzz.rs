//! `cargo xtask fuzz`: every cargo-fuzz target in `fuzz/fuzz_targets`,
//! built once, then each run for a time (libFuzzer's `-max_total_time`)
//! with its corpus in `fuzz/corpus/<target>` (kept between runs, not
//! committed) and seeds from `../shared/fixtures` (read from there,
//! never copied into the project): the captures themselves for the
//! targets that read captures, what `examples/fuzz_seeds.rs` makes of
//! them for the others). A crash fails the run and names the input libFuzzer saved
//! in `fuzz/artifacts/<target>/`; such an input, once its defect is fixed,
//! goes into `fuzz/regressions/<target>/` (committed), which every run
//! replays first. `cargo xtask test` runs each target briefly.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use crate::{agent, setup};

/// One fuzz target and what seeds it.
pub struct Target {
    pub name: &'static str,
    /// What it reads.
    pub about: &'static str,
    /// What seeds it, from `../shared/fixtures`.
    pub seeds: Seeds,
    /// Inputs longer than this are cut (the seeds among them).
    pub max_len: usize,
    /// Built with AddressSanitizer. The agent's unsafe code (the record
    /// decoder's copies, the events' byte views) is all under `records`
    /// and `classify`, which run with it; `tracker` and `replay` run safe
    /// code that allocates at every step, where ASan's allocator and its
    /// stack traces cost two thirds of each run and can find nothing the
    /// bounds checks and debug assertions do not.
    pub asan: bool,
}

/// Where a target's seeds come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seeds {
    /// The fixture captures themselves (targets that read a capture).
    Captures,
    /// What `monitor/examples/fuzz_seeds.rs` makes of them: the events'
    /// records, their payloads, each capture's events as tracker steps
    /// (in `target/fuzz-seeds/<target>/`).
    FromCaptures,
    None,
}

/// Every target, in the order they run.
pub const TARGETS: &[Target] = &[
    Target {
        name: "classify",
        about: "the shared classifier (kernel and host) on a frame",
        seeds: Seeds::None,
        max_len: 4096,
        asan: true,
    },
    Target {
        name: "capture",
        about: "the pcap/pcapng reader on a capture file, in reads of any size",
        seeds: Seeds::Captures,
        max_len: 64 * 1024,
        asan: true,
    },
    Target {
        name: "records",
        about: "the ring-buffer record decoder and the readers of its fields",
        seeds: Seeds::FromCaptures,
        max_len: 4096,
        asan: true,
    },
    Target {
        name: "payloads",
        about: "TFTP, HTTP and DHCPv6 payload parsers and the escaping of wire text",
        seeds: Seeds::FromCaptures,
        max_len: 4096,
        asan: true,
    },
    Target {
        name: "tracker",
        about: "the session tracker on event sequences at arbitrary times",
        seeds: Seeds::FromCaptures,
        // Some 250 steps: ample for a table of 4 sessions to fill, evict
        // and time out; longer inputs only slow each run.
        max_len: 1024,
        asan: false,
    },
    Target {
        name: "replay",
        about: "replay of a capture file: reader, host stages and tracker",
        seeds: Seeds::Captures,
        // A capture's first 16 KiB hold its headers and a few exchanges;
        // longer inputs only slow each run.
        max_len: 16 * 1024,
        asan: false,
    },
];

/// How long each target runs.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Seconds (libFuzzer's `-max_total_time`).
    Seconds(u32),
    /// Executions (`-runs`).
    Runs(u64),
}

/// What one run of a target did, from libFuzzer's last lines.
#[derive(Debug, Default)]
pub struct Outcome {
    pub target: &'static str,
    pub seconds: f64,
    pub runs: u64,
    /// Coverage: edges (`cov:`) and features (`ft:`) reached.
    pub edges: u64,
    pub features: u64,
    pub corpus: u64,
    pub crash: Option<PathBuf>,
    pub log: PathBuf,
    pub binary: PathBuf,
}

fn fuzz_dir() -> PathBuf {
    agent::workspace_root().join("fuzz")
}

fn nightly_cargo() -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", setup::NIGHTLY, "cargo"])
        .current_dir(fuzz_dir())
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    c
}

/// Where the targets built without a sanitizer go (flags of their own,
/// so the two builds do not undo each other).
const PLAIN_DIR: &str = "target/plain";

/// Builds these targets (`cargo fuzz build`: release, debug assertions,
/// coverage instrumentation, AddressSanitizer where the target asks).
pub fn build(targets: &[&Target]) -> Result<()> {
    for t in targets {
        let mut c = nightly_cargo();
        c.args(["fuzz", "build"]);
        if !t.asan {
            c.args(["--sanitizer", "none", "--target-dir", PLAIN_DIR]);
        }
        let status = c
            .arg(t.name)
            .status()
            .context("running cargo fuzz build (run `cargo xtask setup`)")?;
        if !status.success() {
            bail!("cargo fuzz build {}: {status}", t.name);
        }
    }
    Ok(())
}

fn binary(t: &Target) -> PathBuf {
    let dir = if t.asan { "target" } else { PLAIN_DIR };
    fuzz_dir()
        .join(dir)
        .join("x86_64-unknown-linux-gnu/release")
        .join(t.name)
}

fn fixtures() -> PathBuf {
    agent::workspace_root().join("../shared/fixtures")
}

/// The directories of fixture captures, when `../shared` is there.
fn capture_seed_dirs() -> Vec<PathBuf> {
    ["lab-pcaps", "peer-pcaps"]
        .iter()
        .map(|d| fixtures().join(d))
        .filter(|d| d.is_dir())
        .collect()
}

fn made_seeds_dir() -> PathBuf {
    agent::target_dir().join("fuzz-seeds")
}

/// Makes the seeds of the [`Seeds::FromCaptures`] targets
/// (`examples/fuzz_seeds.rs`); false when `../shared` is not there.
pub fn make_seeds() -> Result<bool> {
    if capture_seed_dirs().is_empty() {
        return Ok(false);
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "-p",
            "monitor",
            "--example",
            "fuzz_seeds",
            "--",
        ])
        .arg(fixtures())
        .arg(made_seeds_dir())
        .current_dir(agent::workspace_root())
        .status()
        .context("running the fuzz_seeds example")?;
    if !status.success() {
        bail!("examples/fuzz_seeds: {status}");
    }
    Ok(true)
}

/// Runs a target once on each input of `fuzz/regressions/<target>/`
/// (inputs that once failed a check, committed); fails naming the first
/// that fails now.
pub fn run_regressions(t: &Target) -> Result<usize> {
    let dir = fuzz_dir().join("regressions").join(t.name);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut inputs: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    inputs.sort();
    for input in &inputs {
        let out = Command::new(binary(t))
            .arg(input)
            .output()
            .with_context(|| format!("running {}", binary(t).display()))?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr);
            // The check that failed: the line after Rust's "panicked at",
            // or libFuzzer's (or ASan's) ERROR line.
            let lines: Vec<&str> = text.lines().collect();
            let why = lines
                .iter()
                .position(|l| l.contains("panicked at"))
                .and_then(|i| lines.get(i + 1))
                .or_else(|| lines.iter().find(|l| l.contains("ERROR")))
                .copied()
                .unwrap_or("");
            bail!(
                "the regression input {} fails again ({}): {why}",
                input.display(),
                out.status
            );
        }
    }
    Ok(inputs.len())
}

/// Runs one built target for its budget (its regression inputs first).
pub fn run_target(t: &Target, budget: Budget, logs: &Path) -> Result<Outcome> {
    run_regressions(t)?;
    let dir = fuzz_dir();
    let corpus = dir.join("corpus").join(t.name);
    let artifacts = dir.join("artifacts").join(t.name);
    fs::create_dir_all(&corpus)?;
    fs::create_dir_all(&artifacts)?;
    fs::create_dir_all(logs)?;
    let log = logs.join(format!("{}.log", t.name));
    let mut c = Command::new(binary(t));
    match budget {
        Budget::Seconds(s) => c.arg(format!("-max_total_time={s}")),
        Budget::Runs(n) => c.arg(format!("-runs={n}")),
    };
    c.arg(format!("-max_len={}", t.max_len))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        // libFuzzer's default is 20 minutes; an input this slow is a
        // defect too.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(&corpus);
    let seeds = match t.seeds {
        Seeds::Captures => capture_seed_dirs(),
        Seeds::FromCaptures => vec![made_seeds_dir().join(t.name)],
        Seeds::None => Vec::new(),
    };
    let seeds: Vec<PathBuf> = seeds.into_iter().filter(|d| d.is_dir()).collect();
    if t.seeds != Seeds::None && seeds.is_empty() {
        crate::testing::skip_or_fail(&format!(
            "../shared/fixtures is not there: fuzz target {} runs without its seeds",
            t.name
        ));
    }
    c.args(seeds);
    c.stdout(Stdio::null())
        .stderr(fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?);
    let started = Instant::now();
    let status = c.status().with_context(|| {
        format!(
            "running {} (built by `cargo fuzz build`)",
            binary(t).display()
        )
    })?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let mut out = parse_log(&text);
    out.target = t.name;
    out.binary = binary(t);
    out.seconds = started.elapsed().as_secs_f64();
    out.log = log;
    if !status.success() {
        out.crash = text.lines().find_map(|l| {
            l.split_once("Test unit written to ")
                .map(|(_, p)| PathBuf::from(p.trim()))
        });
        if out.crash.is_none() {
            bail!("{}: {status}; see {}", t.name, out.log.display());
        }
    }
    Ok(out)
}

/// Runs, edges, features and corpus size from libFuzzer's output (its
/// last status line and `-print_final_stats`).
fn parse_log(text: &str) -> Outcome {
    let mut o = Outcome::default();
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = line.split(key).nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    };
    for line in text.lines() {
        if let Some(status) = line.strip_prefix('#') {
            if let Some(n) = status
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
            {
                o.runs = o.runs.max(n);
            }
            o.edges = field(line, "cov: ").unwrap_or(o.edges);
            o.features = field(line, "ft: ").unwrap_or(o.features);
            o.corpus = field(line, "corp: ")
                .or_else(|| {
                    let rest = line.split("corp: ").nth(1)?;
                    rest.split('/').next()?.parse().ok()
                })
                .unwrap_or(o.corpus);
        }
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            o.runs = n.trim().parse().unwrap_or(o.runs);
        }
    }
    o
}

/// `cargo xtask fuzz`: builds, runs each target (or those named) for its
/// budget, `jobs` at a time, prints a table; fails if any crashed.
pub fn run(budget: Budget, only: &[String], jobs: usize) -> Result<Vec<Outcome>> {
    for name in only {
        if !TARGETS.iter().any(|t| t.name == name) {
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            bail!("no fuzz target {name:?}; there are: {}", names.join(", "));
        }
    }
    let queue: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.iter().any(|n| n == t.name))
        .collect();
    build(&queue)?;
    if queue.iter().any(|t| t.seeds == Seeds::FromCaptures) {
        make_seeds()?;
    }
    let logs = agent::workspace_root().join("target/fuzz-logs");
    let queue = std::sync::Mutex::new(queue.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let Some(t) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let what = match budget {
                        Budget::Seconds(s) => format!("{s} s"),
                        Budget::Runs(n) => format!("{n} runs"),
                    };
                    println!("fuzz {}: {} ({what})", t.name, t.about);
                    let r = run_target(t, budget, &logs);
                    results.lock().unwrap().push((t.name, r));
                }
            });
        }
    });
    let mut outcomes = Vec::new();
    // A target that could not run is reported after the table of those
    // that did.
    let mut failed = Vec::new();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(name, _)| TARGETS.iter().position(|t| t.name == *name));
    for (name, r) in results {
        match r {
            Ok(o) => outcomes.push(o),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    println!(
        "\n{:<10} {:>8} {:>12} {:>9} {:>7} {:>8} {:>7}",
        "target", "seconds", "executions", "exec/s", "edges", "features", "corpus"
    );
    for o in &outcomes {
        println!(
            "{:<10} {:>8.0} {:>12} {:>9.0} {:>7} {:>8} {:>7}{}",
            o.target,
            o.seconds,
            o.runs,
            o.runs as f64 / o.seconds.max(0.001),
            o.edges,
            o.features,
            o.corpus,
            o.crash
                .as_ref()
                .map_or(String::new(), |p| format!("  CRASH: {}", p.display()))
        );
    }
    let crashed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            let p = o.crash.as_ref()?;
            Some(format!(
                "{} (input {}, log {}; reproduce: {} {})",
                o.target,
                p.display(),
                o.log.display(),
                o.binary.display(),
                p.display()
            ))
        })
        .collect();
    if !crashed.is_empty() {
        failed.push(format!("crashed: {}", crashed.join("; ")));
    }
    if !failed.is_empty() {
        bail!("fuzz: {}", failed.join("; "));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_output() {
        let text = "#2\tINITED cov: 12 ft: 13 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                    #524288\tpulse  cov: 310 ft: 900 corp: 120/4Kb lim: 4096 exec/s: 87381 rss: 60Mb\n\
                    #901234\tDONE   cov: 311 ft: 905 corp: 121/4Kb lim: 4096 exec/s: 90123 rss: 61Mb\n\
                    Done 901234 runs in 10 second(s)\n\
                    stat::number_of_executed_units: 901234\n";
        let o = parse_log(text);
        assert_eq!(
            (o.runs, o.edges, o.features, o.corpus),
            (901_234, 311, 905, 121)
        );
    }

    #[test]
    fn every_target_has_its_source() {
        for t in TARGETS {
            let src = fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{}.rs", t.name));
            assert!(src.is_file(), "{} has no {}", t.name, src.display());
        }
        let listed = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        for t in TARGETS {
            assert!(
                listed.contains(&format!("name = \"{}\"", t.name)),
                "{} not in fuzz/Cargo.toml",
                t.name
            );
        }
    }
}
