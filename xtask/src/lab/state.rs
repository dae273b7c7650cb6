//! The state file (`lab.state` in the state directory): the role, PID and
//! start time of each process the lab started, so that a later, separate
//! `cargo xtask lab down` can stop them (and only them).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub(super) const STATE_FILE: &str = "lab.state";
/// The role of the `lab up` keeper process in the state file.
pub(super) const KEEPER_ROLE: &str = "keeper";

/// `/run/pxe-monitor-lab`: `/run` is a tmpfs, like `/run/netns` where the
/// namespaces live, so persisted PIDs can never outlive a reboot; the lab
/// needs root anyway.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/run/pxe-monitor-lab")
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct StateEntry {
    pub(super) role: String,
    pub(super) pid: u32,
    pub(super) start_time: u64,
}

pub(super) fn write_state(dir: &Path, entries: &[StateEntry]) -> Result<()> {
    let mut text = String::from("# pxe-monitor lab: role pid starttime (clock ticks)\n");
    for e in entries {
        text.push_str(&format!("{} {} {}\n", e.role, e.pid, e.start_time));
    }
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(STATE_FILE))
        .with_context(|| format!("writing {}", dir.join(STATE_FILE).display()))
}

fn parse_state(text: &str) -> Vec<StateEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(StateEntry {
                role: f.next()?.to_string(),
                pid: f.next()?.parse().ok()?,
                start_time: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

pub(super) fn read_state(dir: &Path) -> Result<Vec<StateEntry>> {
    let path = dir.join(STATE_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(parse_state(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub(super) fn remove_state(dir: &Path) {
    let _ = fs::remove_file(dir.join(STATE_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("pxe-lab-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let entries = vec![
            StateEntry {
                role: "radvd".into(),
                pid: 10,
                start_time: 123,
            },
            StateEntry {
                role: KEEPER_ROLE.into(),
                pid: 9,
                start_time: 100,
            },
        ];
        write_state(&dir, &entries).unwrap();
        assert_eq!(read_state(&dir).unwrap(), entries);
        remove_state(&dir);
        assert!(read_state(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
