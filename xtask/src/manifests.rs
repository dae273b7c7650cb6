//! The Kubernetes manifests in `deploy/kubernetes/`: where they are, the
//! schema validator the tests run on them (PyPI's kubernetes-validate and
//! everything it pulls in, pinned, in a virtual environment under
//! `target/tools/` that `cargo xtask setup` makes; it ships the Kubernetes
//! schemas, so it runs offline), and reading them as JSON (through the
//! PyYAML of that environment).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{agent, sys};

/// The validator's version; its schemas go up to Kubernetes 1.37.
pub const VALIDATOR_VERSION: &str = "1.37.0";
/// The validator and each package it pulls in, pinned (as resolved on
/// 2026-12-06 for Debian 12's Python 3.11).
const VALIDATOR_PINS: &[&str] = &[
    "kubernetes-validate==1.37.0",
    "attrs==26.1.0",
    "importlib_resources==7.1.0",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "packaging==26.4",
    "PyYAML==6.0.4",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "typing_extensions==4.16.0",
];
/// The oldest and the newest Kubernetes versions the validator has schemas
/// for: the manifests must pass both.
pub const KUBERNETES_VERSIONS: &[&str] = &["1.25.0", "1.37.0"];
/// Debian's Python (python3-venv), not whatever `python3` is first on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// `deploy/kubernetes/`.
pub fn dir() -> PathBuf {
    agent::workspace_root().join("deploy/kubernetes")
}

fn venv() -> PathBuf {
    agent::target_dir().join("tools/kubernetes-validate")
}

/// The validator's command.
pub fn validator() -> PathBuf {
    venv().join("bin/kubernetes-validate")
}

/// The installed validator's version, if it is the pinned one.
pub fn validator_installed() -> Option<String> {
    let out = Command::new(validator()).arg("--version").output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && v == VALIDATOR_VERSION).then_some(v)
}

/// Makes the virtual environment and installs the pinned validator into it
/// (about 25 s, 144 MiB: the schemas of every Kubernetes version).
pub fn install_validator() -> Result<()> {
    if !Path::new(PYTHON).exists() {
        bail!("{PYTHON} is missing: apt-get install python3 python3-venv");
    }
    let venv = venv();
    sys::run_cmd(
        Command::new(PYTHON)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )
    .context("python3 -m venv (is the Debian package python3-venv installed?)")?;
    sys::run_cmd(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(VALIDATOR_PINS),
    )
    .context("pip install kubernetes-validate (is PyPI reachable?)")?;
    if validator_installed().is_none() {
        bail!(
            "{} installed, but `--version` does not say {VALIDATOR_VERSION}",
            validator().display()
        );
    }
    Ok(())
}

/// Runs the validator in strict mode (unknown fields are errors) on `file`
/// against Kubernetes `version`.
pub fn validate(file: &Path, version: &str) -> Result<Output> {
    Command::new(validator())
        .args(["--strict", "--kubernetes-version", version])
        .arg(file)
        .output()
        .with_context(|| format!("running {}", validator().display()))
}

/// The YAML documents of `file`, as JSON values.
pub fn documents(file: &Path) -> Result<Vec<Value>> {
    let script = "import json, sys, yaml\n\
                  json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)";
    let json = sys::run_cmd(
        Command::new(venv().join("bin/python"))
            .args(["-c", script])
            .arg(file),
    )
    .with_context(|| format!("reading {} as YAML", file.display()))?;
    serde_json::from_str(&json).context("PyYAML's JSON")
}

/// The document of `kind` in `docs` (exactly one).
pub fn one<'a>(docs: &'a [Value], kind: &str) -> Result<&'a Value> {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    match (found.next(), found.next()) {
        (Some(d), None) => Ok(d),
        (None, _) => bail!("no {kind} in the manifest"),
        (Some(_), Some(_)) => bail!("more than one {kind} in the manifest"),
    }
}
