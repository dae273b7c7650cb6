//! `cargo xtask lab down`: stops what the state file lists and anything else
//! running in a lab namespace, then deletes the namespaces of every lab
//! instance (leftovers of crashed e2e runs included); and the sweep the
//! test runs start with, of the empty namespaces a killed run left.

use std::time::Duration;

use anyhow::{Result, bail};

use super::require_root;
use super::state::{KEEPER_ROLE, StateEntry, default_state_dir, read_state, remove_state};
use super::topology::lab_namespaces;
use crate::proc::{is_alive, kill_foreign, proc_comm, proc_stat, wait_until};
use crate::sys::{ip, ns_exists};

/// `cargo xtask lab down`: [`down_all`], saying what it stopped and deleted.
pub fn down_command() -> Result<()> {
    let done = down_all_report()?;
    if done.is_empty() {
        println!("nothing to tear down: no pxe-* namespace, no lab process");
    } else {
        for line in done {
            println!("{line}");
        }
        println!("lab is down");
    }
    Ok(())
}

/// Removes everything a previous `lab up` left: kills the processes listed in
/// the default state dir (verifying each PID's start time), then any process
/// still inside a pxe-* namespace of this lab, then deletes the namespaces.
/// Safe to call when nothing exists.
pub fn down_all() -> Result<()> {
    down_all_report().map(|_| ())
}

fn down_all_report() -> Result<Vec<String>> {
    require_root()?;
    let dir = default_state_dir();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let entries = read_state(&dir).unwrap_or_default();

    // Client and capture first, the daemons after; the keeper last.
    let rank = |role: &str| match role {
        "client" => 0,
        "capture" => 1,
        "dnsmasq" | "dhcpd" => 2,
        "radvd" => 3,
        KEEPER_ROLE => 5,
        _ => 4,
    };
    let mut procs: Vec<&StateEntry> = entries.iter().filter(|e| e.role != KEEPER_ROLE).collect();
    procs.sort_by_key(|e| rank(&e.role));
    for e in procs {
        if !is_alive(e.pid, Some(e.start_time)) {
            continue;
        }
        let sig = if e.role == "capture" {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        match kill_foreign(e.pid, Some(e.start_time), sig) {
            Ok(()) => done.push(format!("stopped {} (pid {})", e.role, e.pid)),
            Err(err) => errors.push(format!("{} (pid {}): {err:#}", e.role, e.pid)),
        }
    }

    // Anything else still inside a lab's namespaces (e.g. a qemu started
    // by hand, or the children of a test or an e2e run that was killed).
    let lab_ns = lab_namespaces();
    for ns in &lab_ns {
        let pids = ip(None, &["netns", "pids", ns]).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let Some((_, start)) = proc_stat(pid) else {
                continue;
            };
            let name = proc_comm(pid);
            match kill_foreign(pid, Some(start), libc::SIGTERM) {
                Ok(()) => done.push(format!("stopped {name} (pid {pid}) found in netns {ns}")),
                Err(err) => errors.push(format!("{name} (pid {pid}) in {ns}: {err:#}")),
            }
        }
    }
    for ns in &lab_ns {
        if ns_exists(ns) {
            match ip(None, &["netns", "del", ns]) {
                Ok(_) => done.push(format!("deleted netns {ns}")),
                Err(err) => errors.push(format!("{err:#}")),
            }
        }
    }

    // The keeper exits by itself once its children are gone.
    for e in entries.iter().filter(|e| e.role == KEEPER_ROLE) {
        let gone = wait_until(Duration::from_secs(3), || {
            !is_alive(e.pid, Some(e.start_time))
        });
        if !gone {
            match kill_foreign(e.pid, Some(e.start_time), libc::SIGTERM) {
                Ok(()) => done.push(format!("stopped keeper (pid {})", e.pid)),
                Err(err) => errors.push(format!("keeper (pid {}): {err:#}", e.pid)),
            }
        }
    }
    if errors.is_empty() {
        remove_state(&dir);
        Ok(done)
    } else {
        for line in &done {
            eprintln!("{line}");
        }
        bail!("lab down: {}", errors.join("; "))
    }
}

/// Deletes the namespaces of test instances (1 and up; instance 0 is the
/// lab `lab up` builds) that a killed run left behind: an instance's
/// namespaces go only when none of them has a process in it, so a lab
/// another run is using is never touched. Returns the namespaces deleted.
pub fn sweep_abandoned() -> Result<Vec<String>> {
    require_root()?;
    let left = super::topology::leftover_namespaces();
    let instance = |ns: &str| -> String {
        ns.trim_start_matches("pxe")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect()
    };
    let mut busy = std::collections::BTreeSet::new();
    for ns in &left {
        let pids = ip(None, &["netns", "pids", ns]).unwrap_or_default();
        if pids.split_whitespace().next().is_some() {
            busy.insert(instance(ns));
        }
    }
    let mut deleted = Vec::new();
    for ns in left.iter().filter(|ns| !busy.contains(&instance(ns))) {
        ip(None, &["netns", "del", ns])?;
        deleted.push(ns.clone());
    }
    Ok(deleted)
}
