//! `cargo xtask lab up`: the lab built under a detached keeper process that
//! reaps its daemons after the command has returned (see the module docs of
//! `lab`), and the summary of what is up.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::down::down_all;
use super::state::{default_state_dir, read_state};
use super::topology::{Names, refuse_if_up};
use super::{
    BOOT_FILE, BOOT_OK_MARKER, BR_RTR_PORT, BR_SRV_PORT, BRIDGE, CAPTURE_FILTER, CLIENT_MAC,
    CLIENT_NS, CLIENT_TAP, DHCP_RANGE_END, DHCP_RANGE_START, Firmware, Lab, RA_PREFIX, ROUTER_IF,
    ROUTER_IP, ROUTER_NS, SERVER_IF, SERVER_IP, SERVER_NS, client, require_root,
};

/// `cargo xtask lab up`, its state in [`default_state_dir`] (see
/// [`up_detached`]).
pub fn up_command() -> Result<()> {
    up_detached(&default_state_dir())
}

/// `cargo xtask lab up`: builds the lab under a detached keeper process (so
/// the daemons stay reaped after this command exits), then prints a summary.
fn up_detached(dir: &Path) -> Result<()> {
    require_root()?;
    // Lab::up checks this too; checking here as well starts no keeper at all.
    refuse_if_up(&Names::of(0))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = fs::canonicalize(dir)?;

    let threads = fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if threads > 1 {
        // fork() is only sound while single-threaded: run in-process and
        // leave the daemons behind (orphaned, but recorded for `lab down`).
        let lab = Lab::up(&dir)?;
        lab.write_state()?;
        print_summary(&dir, None)?;
        std::mem::forget(lab);
        return Ok(());
    }

    let mut fds = [0; 2];
    // SAFETY: plain syscalls; the fds are owned below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: the process is single-threaded (checked above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        // The keeper. Never returns.
        // SAFETY: `rd` is ours; `wr` is owned by the File.
        unsafe { libc::close(rd) };
        let report = unsafe { fs::File::from_raw_fd(wr) };
        keeper(&dir, report);
    }
    // SAFETY: `wr` belongs to the keeper now; `rd` is owned by the File.
    unsafe { libc::close(wr) };
    let mut report = unsafe { fs::File::from_raw_fd(rd) };
    let mut msg = String::new();
    report
        .read_to_string(&mut msg)
        .context("reading the keeper's report")?;
    match msg.split_once('\n') {
        Some(("OK", _)) => print_summary(&dir, Some(pid as u32)),
        Some(("ERR", err)) => bail!("{}", err.trim_end()),
        _ => {
            // The keeper died before reporting: remove whatever it left.
            let cleanup = down_all();
            bail!(
                "the lab keeper (pid {pid}) died while building the lab (see {}); cleanup: {}",
                dir.join("keeper.log").display(),
                match cleanup {
                    Ok(()) => "done".to_string(),
                    Err(e) => format!("{e:#}"),
                }
            )
        }
    }
}

fn keeper(dir: &Path, mut report: fs::File) -> ! {
    // SAFETY: single-threaded child of fork; plain syscalls.
    unsafe {
        libc::setsid();
        let _ = libc::chdir(c"/".as_ptr());
    }
    let log = dir.join("keeper.log");
    let redirect = (|| -> std::io::Result<()> {
        let null = fs::File::open("/dev/null")?;
        let log = fs::File::create(&log)?;
        use std::os::fd::AsRawFd;
        // SAFETY: valid fds; dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(log.as_raw_fd(), 1);
            libc::dup2(log.as_raw_fd(), 2);
        }
        Ok(())
    })();
    if let Err(e) = redirect {
        let _ = write!(report, "ERR\nkeeper: redirecting stdio: {e}\n");
        // SAFETY: terminate the forked child without running destructors.
        unsafe { libc::_exit(1) };
    }
    let mut lab = match Lab::up(dir) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("keeper: {e:#}");
            let _ = write!(report, "ERR\n{e:#}\n");
            // SAFETY: see above.
            unsafe { libc::_exit(1) };
        }
    };
    lab.keeper_pid = Some(std::process::id());
    if let Err(e) = lab.write_state() {
        eprintln!("keeper: {e:#}");
        drop(lab);
        let _ = write!(report, "ERR\nwriting the lab state: {e:#}\n");
        // SAFETY: see above.
        unsafe { libc::_exit(1) };
    }
    eprintln!("keeper {}: lab up: {:?}", std::process::id(), lab.pids());
    // From now on the daemons outlive this Lab value; `lab down` stops them.
    std::mem::forget(lab);
    let _ = report.write_all(b"OK\n");
    drop(report);
    loop {
        let mut status = 0;
        // SAFETY: plain syscall.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid > 0 {
            eprintln!("keeper: reaped pid {pid} (wait status {status:#x})");
            continue;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        eprintln!("keeper: no children left ({err}); exiting");
        // SAFETY: see above.
        unsafe { libc::_exit(0) };
    }
}

fn print_summary(dir: &Path, keeper: Option<u32>) -> Result<()> {
    let entries = read_state(dir)?;
    let pid_of = |role: &str| {
        entries
            .iter()
            .find(|e| e.role == role)
            .map(|e| e.pid.to_string())
            .unwrap_or("?".into())
    };
    let serial = dir.join("client-serial.log");
    let qemu = client::qemu_args(&serial, CLIENT_MAC, Firmware::Bios, None)?
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "PXE lab is up (state, configs and logs in {})",
        dir.display()
    );
    match keeper {
        Some(pid) => println!("  keeper pid {pid} (reaps the daemons; exits on `lab down`)"),
        None => println!("  (no keeper: the daemons are orphans of this command)"),
    }
    println!(
        "  netns {CLIENT_NS}: bridge {BRIDGE} (no address, STP off, forward delay 0) \
         with ports {CLIENT_TAP} (for qemu, NO-CARRIER until it runs), {BR_SRV_PORT}, {BR_RTR_PORT}"
    );
    println!(
        "  netns {SERVER_NS}: {SERVER_IF} {SERVER_IP}/24; dnsmasq pid {}: DHCP \
         {DHCP_RANGE_START}-{DHCP_RANGE_END}, boot file {BOOT_FILE} via TFTP from {}",
        pid_of("dnsmasq"),
        dir.join("tftp").display()
    );
    println!(
        "  netns {ROUTER_NS}: {ROUTER_IF} {ROUTER_IP}/24; radvd pid {} advertising {RA_PREFIX}",
        pid_of("radvd")
    );
    println!();
    println!(
        "Boot the iPXE client (serial console in {}):",
        serial.display()
    );
    println!("  ip netns exec {CLIENT_NS} qemu-system-x86_64 {qemu} </dev/null >/dev/null 2>&1 &");
    println!(
        "  tail -f {}    # '{BOOT_OK_MARKER}' = booted; then: kill $!",
        serial.display()
    );
    println!("Watch the wire:");
    println!("  ip netns exec {SERVER_NS} tshark -n -i {SERVER_IF} -f '{CAPTURE_FILTER}'");
    println!("Tear down:");
    println!("  cargo xtask lab down");
    Ok(())
}
