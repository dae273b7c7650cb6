//! `cargo xtask setup`: installs what building and testing need. Idempotent:
//! each step checks first and says what it found or did.

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::sys::is_root;

/// Debian packages: LLVM 22 for bpf-linker, the lab's servers and clients,
/// capture tools and Prometheus.
pub const PACKAGES: &[&str] = &[
    // bpf-linker against LLVM 22
    "llvm-22-dev",
    "libpolly-22-dev",
    "zlib1g-dev",
    "libzstd-dev",
    // the lab
    "iproute2",
    "dnsmasq",
    "isc-dhcp-server",
    "isc-dhcp-relay",
    "kea-dhcp4-server",
    "tftpd-hpa",
    "qemu-system-x86",
    "ipxe-qemu",
    "ipxe",
    "ovmf",
    "radvd",
    "busybox",
    "isc-dhcp-client",
    "atftp",
    "tftp-hpa",
    "tshark",
    "curl",
    // bench veth's TCP bulk
    "iperf3",
    // the pxelinux / syslinux.efi chain
    "pxelinux",
    "syslinux-common",
    "syslinux-efi",
    // metrics and alerts
    "prometheus",
    "prometheus-alertmanager",
    // the test PKI of the TLS tests (xtask::pki)
    "openssl",
    // the landing page in a real browser (monitor/tests/page_browser.rs)
    "chromium",
    // the Debian package's test (xtask/tests/package.rs): lintian, the unit
    // checked and its user created (systemd-analyze, systemd-sysusers,
    // deb-systemd-helper), its system calls measured (strace)
    "lintian",
    "systemd",
    "init-system-helpers",
    "strace",
    // the container image (xtask::container) and its test: podman builds
    // it FROM scratch; runc runs it (crun 1.8 refuses a host with cgroup v1
    // and v2 mounted side by side); musl-gcc for any C in the static build;
    // the venv of the manifests' schema validator (xtask::manifests)
    "podman",
    "runc",
    "musl-tools",
    "python3-venv",
];

const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13";
/// The nightly the eBPF crate is built with (its LLVM must be readable by
/// bpf-linker's LLVM 22).
pub const NIGHTLY: &str = "nightly";
const NIGHTLY_DATE: &str = "2026-05-19";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn step(name: &str) {
    println!("setup: {name}");
}

pub fn run() -> Result<()> {
    apt_packages().context("setup step 'Debian packages' failed")?;
    nightly().context("setup step 'nightly toolchain + rust-src' failed")?;
    bpf_linker().context("setup step 'bpf-linker' failed")?;
    cargo_fuzz().context("setup step 'cargo-fuzz' failed")?;
    cargo_deb().context("setup step 'cargo-deb' failed")?;
    musl_target().context("setup step 'Rust target for the static binary' failed")?;
    kubernetes_validate().context("setup step 'kubernetes-validate' failed")?;
    println!("setup: done");
    Ok(())
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn apt_packages() -> Result<()> {
    step("Debian packages");
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("  all {} packages already installed", PACKAGES.len());
        return Ok(());
    }
    println!("  missing: {}", missing.join(" "));
    if !is_root() {
        bail!(
            "installing packages needs root: run `sudo cargo xtask setup`, or install them yourself: \
             apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
    }
    // Never let a package start its daemon on this machine: the lab's
    // servers (dnsmasq, dhcpd, kea, tftpd, radvd) would answer on its real
    // interfaces (the lab starts its own copies inside network namespaces),
    // and Debian's Prometheus and Alertmanager would listen on all
    // addresses (the tests start their own on loopback). policy-rc.d exit
    // 101 forbids service starts during installation.
    let guard = PolicyGuard::install()?;
    run_cmd(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get update (is a Debian package mirror reachable?)")?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get install")?;
    drop(guard);
    // Belt and braces: stop any of the lab daemons a package started anyway.
    for unit in [
        "dnsmasq",
        "isc-dhcp-server",
        "kea-dhcp4-server",
        "tftpd-hpa",
        "radvd",
        "iperf3",
        "prometheus",
        "prometheus-alertmanager",
    ] {
        let _ = Command::new("systemctl")
            .args(["stop", unit])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(())
}

/// Puts a deny-all policy-rc.d in place unless one exists, and removes it
/// again on drop.
struct PolicyGuard {
    created: bool,
}

impl PolicyGuard {
    fn install() -> Result<Self> {
        if Path::new(POLICY_RC_D).exists() {
            return Ok(PolicyGuard { created: false });
        }
        fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# pxe-monitor setup: no daemon starts during install\nexit 101\n",
        )
        .with_context(|| format!("writing {POLICY_RC_D}"))?;
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(POLICY_RC_D, fs::Permissions::from_mode(0o755))?;
        println!(
            "  {POLICY_RC_D} added for the install (daemons must not start on real interfaces)"
        );
        Ok(PolicyGuard { created: true })
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file(POLICY_RC_D);
        }
    }
}

fn nightly() -> Result<()> {
    step("nightly toolchain and rust-src");
    let version = Command::new("rustc")
        .args([&format!("+{NIGHTLY}"), "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match version {
        Some(v) => {
            println!("  {v}");
            if !v.contains(NIGHTLY_DATE) {
                println!(
                    "  warning: the eBPF build is tested with nightly {NIGHTLY_DATE}; a newer nightly may \
                     emit LLVM bitcode bpf-linker's LLVM 22 cannot read"
                );
            }
        }
        None => bail!(
            "no `{NIGHTLY}` toolchain: the eBPF crate needs it (-Z build-std=core). \
             Install it with `rustup toolchain install nightly --profile minimal` \
             (tested: nightly-{NIGHTLY_DATE})"
        ),
    }
    let components = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", NIGHTLY])
        .output()
        .context("running rustup")?;
    if String::from_utf8_lossy(&components.stdout)
        .lines()
        .any(|l| l.starts_with("rust-src"))
    {
        println!("  rust-src already installed");
        return Ok(());
    }
    println!("  adding rust-src (needed for -Z build-std=core)");
    run_cmd(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))
        .context("rustup component add rust-src (is the rustup mirror reachable?)")
}

fn bpf_linker_ok() -> Option<String> {
    let out = Command::new("bpf-linker").arg("--version").output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !v.contains(&format!(" {BPF_LINKER_VERSION}.")) {
        return None;
    }
    // Built against LLVM 22? It links libLLVM dynamically.
    let path = which("bpf-linker")?;
    let ldd = Command::new("ldd").arg(&path).output().ok()?;
    String::from_utf8_lossy(&ldd.stdout)
        .contains("libLLVM.so.22")
        .then_some(v)
}

fn which(prog: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

fn bpf_linker() -> Result<()> {
    step("bpf-linker");
    if let Some(v) = bpf_linker_ok() {
        println!("  {v}, linked against LLVM 22");
        return Ok(());
    }
    if !Path::new(LLVM_PREFIX).join("bin/llvm-config").exists() {
        bail!("{LLVM_PREFIX} has no llvm-config: the Debian package llvm-22-dev is missing");
    }
    println!("  building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (about a minute)");
    run_cmd(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                &format!("^{BPF_LINKER_VERSION}"),
                "--locked",
                "--force",
                "--no-default-features",
                "--features",
                "llvm-22",
            ])
            .env("LLVM_PREFIX", LLVM_PREFIX),
    )
    .context("cargo install bpf-linker (is crates.io reachable?)")?;
    bpf_linker_ok()
        .context("bpf-linker installed but not runnable from PATH (is ~/.cargo/bin on PATH?)")?;
    Ok(())
}

fn cargo_fuzz() -> Result<()> {
    step("cargo-fuzz");
    let ok = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        println!("  already installed");
        return Ok(());
    }
    println!("  installing cargo-fuzz (about 25 s)");
    run_cmd(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
        .context("cargo install cargo-fuzz (is crates.io reachable?)")
}

/// cargo-deb, pinned: the package's maintainer scripts are its output.
fn cargo_deb() -> Result<()> {
    use crate::package::{CARGO_DEB_VERSION, cargo_deb_version};
    step("cargo-deb");
    if let Some(v) = cargo_deb_version().filter(|v| v.ends_with(CARGO_DEB_VERSION)) {
        println!("  {v}");
        return Ok(());
    }
    println!("  installing cargo-deb {CARGO_DEB_VERSION} (about a minute)");
    run_cmd(Command::new("cargo").args([
        "install",
        "cargo-deb",
        "--version",
        CARGO_DEB_VERSION,
        "--locked",
        "--force",
    ]))
    .context("cargo install cargo-deb (is crates.io reachable?)")
}

fn musl_target() -> Result<()> {
    let target = crate::container::MUSL_TARGET;
    step(&format!(
        "Rust target {target} (the container's static binary)"
    ));
    if crate::container::musl_target_installed()? {
        println!("  already installed");
        return Ok(());
    }
    println!("  adding {target}");
    run_cmd(Command::new("rustup").args(["target", "add", target]))
        .context("rustup target add (is the rustup mirror reachable?)")
}

fn kubernetes_validate() -> Result<()> {
    use crate::manifests;
    step("kubernetes-validate (the manifests' schemas)");
    if let Some(v) = manifests::validator_installed() {
        println!("  {v} in {}", manifests::validator().display());
        return Ok(());
    }
    println!(
        "  installing kubernetes-validate {} from PyPI into a venv (about 25 s)",
        manifests::VALIDATOR_VERSION
    );
    manifests::install_validator()
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// True when every step would be a no-op (for `demo`, which runs setup only
/// if needed).
pub fn is_complete() -> bool {
    PACKAGES.iter().all(|p| installed(p)) && bpf_linker_ok().is_some()
}

/// Seconds the test command runs each fuzz target for (`cargo xtask fuzz
/// --time S` runs them longer).
pub const FUZZ_SECONDS: u32 = 8;
