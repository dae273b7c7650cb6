//! `cargo xtask package`: the Debian package. Builds the release binary and
//! the monitor crate's `gen_docs` example, which writes the man pages and
//! shell completions from the clap definitions; gzips the man pages; and
//! makes the .deb with cargo-deb (the version `cargo xtask setup` installs)
//! from `[package.metadata.deb]` in `monitor/Cargo.toml` and the files in
//! `packaging/debian/` (unit, defaults file, sysusers.d, copyright,
//! changelog, lintian overrides).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    agent::{self, Profile},
    sys::run_cmd,
};

mod boot;

/// The cargo-deb version `cargo xtask setup` installs and this module is
/// tested with.
pub const CARGO_DEB_VERSION: &str = "3.8.0";

/// Where the generated man pages and completions go, under the profile's
/// directory, where cargo-deb's asset paths look (`target/release/` in
/// `monitor/Cargo.toml` stands for the real target directory and the
/// profile's directory).
const DOCS_DIR: &str = "packaging";

/// `cargo xtask package`: [`build_release`], then [`deb`]; prints the path.
/// With `boot`, the package and a second one of revision 2 then go through
/// [`boot::run`] (real systemd in a container).
pub fn run(revision: Option<&str>, boot: bool) -> Result<()> {
    build(Profile::Release)?;
    if boot {
        let dir = boot::default_dir();
        let first = deb_into(None, Profile::Release, &dir.join("debs"))?;
        let upgrade = deb_into(Some("2"), Profile::Release, &dir.join("debs"))?;
        let t = std::time::Instant::now();
        boot::run(&first, &upgrade, &dir)?;
        println!("boot: checked in {:.1} s", t.elapsed().as_secs_f64());
    }
    let deb = deb(revision, Profile::Release)?;
    println!("{}", deb.display());
    Ok(())
}

/// Builds `pxe-monitor` and `gen_docs` with `profile` (a no-op when they
/// are built already), and writes the man pages (gzipped, as Debian wants
/// them) and completions.
pub fn build(profile: Profile) -> Result<()> {
    let root = agent::workspace_root();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build");
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let status = cmd
        .args(["--package", "monitor"])
        .args(["--bin", "pxe-monitor", "--example", "gen_docs"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build ({profile:?}) --package monitor failed: {status}");
    }
    let target = agent::target_dir().join(profile.dir());
    let docs = target.join(DOCS_DIR);
    if docs.exists() {
        std::fs::remove_dir_all(&docs).with_context(|| format!("removing {}", docs.display()))?;
    }
    run_cmd(Command::new(target.join("examples/gen_docs")).arg(&docs))
        .context("generating the man pages and completions")?;
    let pages = man_pages(&docs.join("man"))?;
    if pages.is_empty() {
        bail!("gen_docs wrote no man page in {}", docs.display());
    }
    // -n: no name or time stamp in the header (reproducible, as dh_compress).
    run_cmd(Command::new("gzip").args(["-9nf"]).args(&pages)).context("gzipping the man pages")?;
    Ok(())
}

fn man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut pages = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "1") {
            pages.push(p);
        }
    }
    pages.sort();
    Ok(pages)
}

/// Makes the .deb from what [`build`] built with `profile` (no rebuild),
/// with Debian revision `revision` (default 1: version `0.1.0-1`); returns
/// its path.
pub fn deb(revision: Option<&str>, profile: Profile) -> Result<PathBuf> {
    check_cargo_deb()?;
    let out_dir = agent::target_dir().join("debian");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["deb", "--package", "monitor", "--no-build", "--output"])
        .arg(&out_dir)
        .current_dir(agent::workspace_root());
    if let Some(r) = revision {
        cmd.args(["--deb-revision", r]);
    }
    if profile == Profile::Dev {
        cmd.args(["--profile", "dev"]);
    }
    let stdout = run_cmd(&mut cmd).context("cargo deb")?;
    let path = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .with_context(|| format!("cargo deb printed no .deb path: {stdout}"))?;
    if !path.is_file() {
        bail!(
            "cargo deb said it wrote {}, which is not there",
            path.display()
        );
    }
    Ok(path)
}

/// [`deb`], the package then moved into `dir` (cargo-deb deletes the other
/// versions of the package in target/debian each time it writes one).
pub fn deb_into(revision: Option<&str>, profile: Profile, dir: &Path) -> Result<PathBuf> {
    let built = deb(revision, profile)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let moved = dir.join(built.file_name().context("a .deb file name")?);
    std::fs::rename(&built, &moved)
        .with_context(|| format!("moving {} to {}", built.display(), dir.display()))?;
    Ok(moved)
}

/// The installed cargo-deb's version, if it runs.
pub fn cargo_deb_version() -> Option<String> {
    let out = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn check_cargo_deb() -> Result<()> {
    match cargo_deb_version() {
        Some(v) if v.ends_with(CARGO_DEB_VERSION) => Ok(()),
        Some(v) => bail!(
            "{v} is installed; the package is built and tested with cargo-deb {CARGO_DEB_VERSION}: \
             run `cargo xtask setup`"
        ),
        None => bail!("cargo-deb is not installed: run `cargo xtask setup`"),
    }
}
