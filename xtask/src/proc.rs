//! Supervising processes: spawning a child in its own process group with
//! its output in a log (or one that dies with the thread that started it),
//! waiting until it is ready, signalling and reaping it and the helpers it
//! forked, stopping a process that is not our child, the child-subreaper
//! switch, and the /proc readers these need. A PID is only ever signalled
//! after its start time (from /proc/PID/stat) is checked, so a recycled PID
//! is never hit.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One process the lab started (a direct child), with its role (radvd,
/// dnsmasq, capture, client, ...) and its start time.
pub(crate) struct Proc {
    pub(crate) role: &'static str,
    child: Child,
    pub(crate) start_time: u64,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Spawns `cmd` as a direct child in its own process group, stdin from
/// /dev/null, stdout and stderr into `log` (truncated).
pub(crate) fn spawn(role: &'static str, mut cmd: Command, log: &Path) -> Result<Proc> {
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    // Own process group: a Ctrl-C meant for the caller (the demo) does not
    // kill the lab's processes behind its back; teardown stops them.
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {role}: {cmd:?}"))?;
    let pid = child.id();
    let start_time = proc_stat(pid).map(|(_, s)| s).unwrap_or(0);
    Ok(Proc {
        role,
        child,
        start_time,
    })
}

/// The child gets SIGTERM when the thread that started it ends, so a run
/// that is killed (or panics past its guards) leaves no agent or server
/// behind outside the lab's namespaces, where `lab down` would not find it.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits until `ready(log text)` holds while `pid` stays alive.
pub(crate) fn wait_ready(
    pid: u32,
    log: &Path,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if ready(&text) {
            return Ok(());
        }
        if !is_alive(pid, None) {
            bail!(
                "{what} (pid {pid}) exited during startup; {}:\n{}",
                log.display(),
                tail(&text)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{what} (pid {pid}) not ready after {timeout:?}; {}:\n{}",
                log.display(),
                tail(&text)
            );
        }
        sleep(Duration::from_millis(50));
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Sends `sig` to our child, waits up to `grace`, then SIGKILLs it; always
/// reaps it.
pub(crate) fn terminate(p: &mut Proc, sig: libc::c_int, grace: Duration) -> Result<ExitStatus> {
    // radvd forks a privsep helper that exits only after radvd itself; as a
    // child subreaper we inherit and reap it (see `become_subreaper`).
    let helpers = descendants(p.pid());
    let status = signal_and_reap(p, sig, grace);
    reap_helpers(&helpers);
    status
}

fn signal_and_reap(p: &mut Proc, sig: libc::c_int, grace: Duration) -> Result<ExitStatus> {
    if let Some(st) = p.child.try_wait()? {
        return Ok(st);
    }
    // SAFETY: plain syscall on our own, not yet reaped child.
    unsafe { libc::kill(p.pid() as libc::pid_t, sig) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(st) = p.child.try_wait()? {
            return Ok(st);
        }
        sleep(Duration::from_millis(20));
    }
    eprintln!(
        "lab: {} (pid {}) ignored signal {sig}; killing it",
        p.role,
        p.pid()
    );
    p.child.kill()?;
    Ok(p.child.wait()?)
}

/// Stops a child server of a test (Prometheus, Alertmanager): SIGTERM,
/// up to `grace` to exit, then SIGKILL; always reaped. The exit status, or
/// `None` when it had to be killed.
pub(crate) fn stop_child(c: &mut Child, grace: Duration) -> Option<ExitStatus> {
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

/// Stops a process that is not our child (from persisted state): `sig`,
/// then SIGKILL. Verifies the start time before each signal.
pub(crate) fn kill_foreign(pid: u32, start_time: Option<u64>, sig: libc::c_int) -> Result<()> {
    let helpers = descendants(pid);
    kill_one_foreign(pid, start_time, sig)?;
    // Helpers (radvd's privsep process) exit once their parent is gone.
    for (hpid, hstart) in helpers {
        kill_one_foreign(hpid, Some(hstart), libc::SIGTERM)?;
    }
    Ok(())
}

fn kill_one_foreign(pid: u32, start_time: Option<u64>, sig: libc::c_int) -> Result<()> {
    for (sig, grace) in [
        (sig, Duration::from_secs(3)),
        (libc::SIGKILL, Duration::from_secs(3)),
    ] {
        if !is_alive(pid, start_time) {
            return Ok(());
        }
        // SAFETY: plain syscall; the PID was checked against its start time.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
        if wait_until(grace, || !is_alive(pid, start_time)) {
            return Ok(());
        }
    }
    bail!("still alive after SIGKILL")
}

/// Waits (up to 3 s, then SIGKILL) for the helper processes of a stopped
/// child, reaping those that were re-parented to us.
fn reap_helpers(helpers: &[(u32, u64)]) {
    let mut left: Vec<(u32, u64)> = helpers.to_vec();
    for (sig, grace) in [
        (0, Duration::from_secs(3)),
        (libc::SIGKILL, Duration::from_secs(2)),
    ] {
        if left.is_empty() {
            return;
        }
        for &(pid, start) in &left {
            if sig != 0 && is_alive(pid, Some(start)) {
                // SAFETY: plain syscall; PID checked against its start time.
                unsafe { libc::kill(pid as libc::pid_t, sig) };
            }
        }
        wait_until(grace, || {
            left.retain(|&(pid, start)| {
                let mut status = 0;
                // SAFETY: plain syscall; only reaps `pid` if it is our child.
                let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
                // Reaped by us, or dead and not our child to reap.
                !(r > 0 || (r < 0 && !is_alive(pid, Some(start))))
            });
            left.is_empty()
        });
    }
    for (pid, _) in left {
        eprintln!("lab: helper process {pid} did not exit");
    }
}

/// All live descendants of `root` (pid, start time), from /proc.
fn descendants(root: u32) -> Vec<(u32, u64)> {
    let mut procs = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some(ppid) = proc_ppid(pid)
                && let Some((_, start)) = proc_stat(pid)
            {
                procs.push((pid, ppid, start));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, start) in &procs {
            if ppid == parent && !found.iter().any(|&(p, _)| p == pid) {
                found.push((pid, start));
                frontier.push(pid);
            }
        }
    }
    found
}

/// Makes this process the reaper of its orphaned descendants (radvd's
/// privsep helper outlives radvd by a moment; PID 1 here reaps lazily).
pub(crate) fn become_subreaper() {
    // SAFETY: plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

fn proc_ppid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// (state, start time in clock ticks) from /proc/PID/stat.
pub(crate) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the comm: [0] = state (field 3), [19] = starttime (field 22).
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

pub(crate) fn proc_comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "process".into())
}

/// Alive = exists, not a zombie, and (if given) has this start time.
pub(crate) fn is_alive(pid: u32, start_time: Option<u64>) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => {
            state != 'Z' && state != 'X' && start_time.is_none_or(|s| s == start)
        }
        None => false,
    }
}

pub(crate) fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Processes whose command line names `dir`: every process of a run does
/// (its config, log, capture or console file is there). This process and
/// its ancestors (which may name it in `--out`) aside.
pub(crate) fn processes_using(dir: &Path) -> Vec<(u32, String)> {
    let mut mine = vec![std::process::id()];
    while let Some(parent) = mine.last().and_then(|p| proc_ppid(*p)).filter(|p| *p > 1) {
        mine.push(parent);
    }
    let needle = dir.to_string_lossy().into_owned();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !mine.contains(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map(|pid| (pid, proc_comm(pid)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let pid = std::process::id();
        let (state, start) = proc_stat(pid).unwrap();
        assert_ne!(state, 'Z');
        assert!(is_alive(pid, Some(start)));
        assert!(!is_alive(pid, Some(start + 1)));
    }

    #[test]
    fn a_process_naming_the_directory_is_found() {
        let dir = std::env::temp_dir().join(format!("pxe-procs-{}", std::process::id()));
        // sh's $0 names the directory, as a lab process's config path does.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; true"])
            .arg(&dir)
            .spawn()
            .unwrap();
        // Until it has exec'd, the child's command line is this test's.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = processes_using(&dir);
        while found.is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
            found = processes_using(&dir);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|(p, _)| *p == child.id()), "{found:?}");
        assert!(processes_using(&dir.join("nothing-here")).is_empty());
    }
}
