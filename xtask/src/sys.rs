//! Running commands: `ip` and `sysctl`, in the root or in a network
//! namespace, any command with its stdout returned and its command line and
//! stderr in the error; where programs and namespaces are, and whether we
//! are root. The lab and the benchmarks build their namespaces with these.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

/// `Command` that runs `prog` inside network namespace `ns`
/// (`ip netns exec NS PROG`, which execs PROG: the child PID is PROG's PID).
pub fn netns_command(ns: &str, prog: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, prog]);
    cmd
}

/// Runs `ip [-n NS] ARGS`, returning stdout or an error with stderr.
pub fn ip(ns: Option<&str>, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    cmd.args(args);
    run_cmd(&mut cmd)
}

/// Sets `key` to `value` with `sysctl` inside network namespace `ns`.
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    run_cmd(
        netns_command(ns, "sysctl")
            .arg("-qw")
            .arg(format!("{key}={value}")),
    )
    .map(|_| ())
}

/// Runs `cmd` (stdin from /dev/null), returning its stdout, or an error
/// that shows the command line and its stderr.
pub fn run_cmd(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line of `cmd`, for messages.
fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where `ip netns` keeps network namespace `ns` (a file to `setns` into).
pub fn netns_path(ns: &str) -> PathBuf {
    Path::new("/run/netns").join(ns)
}

/// Whether network namespace `ns` exists.
pub fn ns_exists(ns: &str) -> bool {
    netns_path(ns).exists()
}

/// Full path of `prog` (PATH plus the sbin directories).
pub fn find_program(prog: &str, package: &str) -> Result<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(prog);
        if p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
        {
            return Ok(p.to_string_lossy().into_owned());
        }
    }
    Err(anyhow!(
        "`{prog}` not found; install it: apt-get install {package}"
    ))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
