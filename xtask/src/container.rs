//! `cargo xtask container`: pxe-monitor as a container image. The agent is
//! built as a static binary for `x86_64-unknown-linux-musl` (checked: no
//! program interpreter), put with `deploy/container/` (Containerfile,
//! passwd, group) into a build context under `target/container/`, and
//! built `FROM scratch` with podman; `--save` also writes the image as an
//! OCI archive, to import on nodes without a registry. For Podman and
//! CRI-O, whose default seccomp profile refuses `bpf()` without
//! CAP_SYS_ADMIN, it also writes that profile with `bpf` and
//! `perf_event_open` allowed under CAP_BPF and CAP_PERFMON.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};

use crate::{
    agent::{self, Profile},
    sys,
};

/// The target of the static binary: musl links statically by default, and
/// its resolver and user database read /etc/resolv.conf, /etc/hosts and
/// /etc/passwd themselves (a static glibc would need NSS modules at run
/// time for both).
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";
/// Where the binary sits in the image (the Containerfile's ENTRYPOINT).
pub const IMAGE_BINARY: &str = "/usr/bin/pxe-monitor";

/// The image's name and tag: podman's `localhost/` prefix, the workspace
/// version (the DaemonSet names it).
pub fn image_tag() -> String {
    format!("localhost/pxe-monitor:{}", env!("CARGO_PKG_VERSION"))
}

/// The tag of the image `cargo xtask test` builds from a [`Profile::Dev`]
/// binary: its own, so that it never replaces a release image.
pub fn test_image_tag() -> String {
    format!("{}-test", image_tag())
}

/// `deploy/container/`: the Containerfile and the files it copies.
pub fn source_dir() -> PathBuf {
    agent::workspace_root().join("deploy/container")
}

/// What `cargo xtask container` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Also write the image as an OCI archive.
    pub save: bool,
    /// Build and check the static binary only.
    pub no_image: bool,
}

pub fn run(opts: Options) -> Result<()> {
    let bin = build_static(Profile::Release)?;
    let size = fs::metadata(&bin)?.len();
    println!(
        "container: {} ({:.1} MiB, statically linked)",
        bin.display(),
        size as f64 / (1 << 20) as f64
    );
    if opts.no_image {
        return Ok(());
    }
    let tag = image_tag();
    build_image(&bin, &tag)?;
    println!("container: image {tag}");
    if Path::new(CONTAINERS_SECCOMP).exists() {
        let default = fs::read_to_string(CONTAINERS_SECCOMP)?;
        let path = agent::target_dir().join("container/seccomp.json");
        fs::write(&path, seccomp_with_bpf(&default, BpfRule::AllowWithCaps)?)?;
        println!(
            "container: {} is {CONTAINERS_SECCOMP} with bpf and perf_event_open allowed \
             under CAP_BPF and CAP_PERFMON (for Podman and CRI-O)",
            path.display()
        );
    }
    if opts.save {
        let archive = save(&tag)?;
        println!(
            "container: saved to {} (import on a node: ctr -n k8s.io images import FILE, \
             or podman load -i FILE)",
            archive.display()
        );
    }
    Ok(())
}

/// Whether rustup has [`MUSL_TARGET`]'s standard library.
pub fn musl_target_installed() -> Result<bool> {
    let installed = sys::run_cmd(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("asking rustup for the installed targets")?;
    Ok(installed.lines().any(|l| l.trim() == MUSL_TARGET))
}

/// Builds pxe-monitor for [`MUSL_TARGET`] and checks that it is statically
/// linked; returns its path.
pub fn build_static(profile: Profile) -> Result<PathBuf> {
    if !musl_target_installed()? {
        bail!(
            "the Rust target {MUSL_TARGET} is not installed: run `cargo xtask setup` \
             (or `rustup target add {MUSL_TARGET}`)"
        );
    }
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--target", MUSL_TARGET]);
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    let status = cargo
        .args(["--package", "monitor", "--bin", "pxe-monitor"])
        .current_dir(agent::workspace_root())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --target {MUSL_TARGET} -p monitor failed: {status}");
    }
    let bin = agent::target_dir()
        .join(MUSL_TARGET)
        .join(profile.dir())
        .join("pxe-monitor");
    if let Some(interp) = elf_interpreter(&bin)? {
        bail!(
            "{} is dynamically linked (program interpreter {interp}): it cannot run in an \
             image FROM scratch",
            bin.display()
        );
    }
    Ok(bin)
}

/// The program interpreter (PT_INTERP) an ELF64 little-endian executable
/// names, or `None` for a static one.
pub fn elf_interpreter(path: &Path) -> Result<Option<String>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = || format!("{} is not a 64-bit little-endian ELF file", path.display());
    ensure!(
        data.len() >= 64 && data.starts_with(b"\x7fELF") && data[4] == 2 && data[5] == 1,
        bad()
    );
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let phoff = u64_at(0x20).with_context(bad)? as usize;
    let phentsize = usize::from(u16_at(0x36).with_context(bad)?);
    let phnum = usize::from(u16_at(0x38).with_context(bad)?);
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = data
            .get(ph..ph + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .with_context(bad)?;
        if p_type == PT_INTERP {
            let offset = u64_at(ph + 8).with_context(bad)? as usize;
            let size = u64_at(ph + 32).with_context(bad)? as usize;
            let name = data.get(offset..offset + size).with_context(bad)?;
            let name = String::from_utf8_lossy(name);
            return Ok(Some(name.trim_end_matches('\0').to_owned()));
        }
    }
    Ok(None)
}

/// Puts `bin` and `deploy/container/` into `target/container/context` and
/// builds the image `tag` there with podman.
pub fn build_image(bin: &Path, tag: &str) -> Result<()> {
    let podman = sys::find_program("podman", "podman")?;
    let context = agent::target_dir().join("container/context");
    if context.exists() {
        fs::remove_dir_all(&context)
            .with_context(|| format!("removing the old {}", context.display()))?;
    }
    fs::create_dir_all(&context)?;
    for file in ["Containerfile", "passwd", "group"] {
        let from = source_dir().join(file);
        fs::copy(&from, context.join(file))
            .with_context(|| format!("copying {}", from.display()))?;
        fs::set_permissions(context.join(file), fs::Permissions::from_mode(0o644))?;
    }
    let dest = context.join("pxe-monitor");
    fs::copy(bin, &dest).with_context(|| format!("copying {}", bin.display()))?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
    let status = Command::new(podman)
        .args(["build", "--tag", tag])
        .arg(format!("--build-arg=VERSION={}", env!("CARGO_PKG_VERSION")))
        .arg("--file")
        .arg(context.join("Containerfile"))
        .arg(&context)
        .status()
        .context("running podman build")?;
    if !status.success() {
        bail!("podman build failed: {status}");
    }
    Ok(())
}

/// Writes image `tag` to `target/container/pxe-monitor-VERSION.oci.tar`.
pub fn save(tag: &str) -> Result<PathBuf> {
    let podman = sys::find_program("podman", "podman")?;
    let archive = agent::target_dir().join(format!(
        "container/pxe-monitor-{}.oci.tar",
        env!("CARGO_PKG_VERSION")
    ));
    if archive.exists() {
        fs::remove_file(&archive)?;
    }
    sys::run_cmd(
        Command::new(podman)
            .args(["save", "--format", "oci-archive", "--output"])
            .arg(&archive)
            .arg(tag),
    )?;
    Ok(archive)
}

/// The default seccomp profile of Podman and CRI-O (containers-common).
pub const CONTAINERS_SECCOMP: &str = "/usr/share/containers/seccomp.json";

/// Where `bpf` and `perf_event_open` go in [`seccomp_with_bpf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpfRule {
    /// Allowed with CAP_BPF and CAP_PERFMON respectively: what the default
    /// profiles of containerd and Docker do.
    AllowWithCaps,
    /// Refused (EPERM) whatever the capabilities.
    Refuse,
}

/// A seccomp profile in the OCI runtimes' JSON format (`profile`, e.g. a
/// runtime's default) with `bpf` and `perf_event_open` taken out of every
/// rule and put back as `rule` says; the rest unchanged.
pub fn seccomp_with_bpf(profile: &str, rule: BpfRule) -> Result<String> {
    const NAMES: [&str; 2] = ["bpf", "perf_event_open"];
    let mut profile: Value = serde_json::from_str(profile).context("a seccomp profile (JSON)")?;
    let syscalls = profile["syscalls"]
        .as_array_mut()
        .context("a seccomp profile with a `syscalls` list")?;
    for r in syscalls.iter_mut() {
        if let Some(names) = r["names"].as_array_mut() {
            names.retain(|n| !NAMES.iter().any(|x| n == x));
        }
    }
    syscalls.retain(|r| r["names"].as_array().is_none_or(|n| !n.is_empty()));
    match rule {
        BpfRule::AllowWithCaps => {
            for (name, cap) in [("bpf", "CAP_BPF"), ("perf_event_open", "CAP_PERFMON")] {
                syscalls.push(json!({
                    "names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}
                }));
            }
        }
        BpfRule::Refuse => syscalls.push(json!({
            "names": NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM
        })),
    }
    Ok(serde_json::to_string_pretty(&profile)?)
}
