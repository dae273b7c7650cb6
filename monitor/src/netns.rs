//! Entering a named network namespace for a moment (to attach there).

use std::{fs::File, io, os::fd::AsRawFd, path::PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NetnsError {
    #[error("network namespace {name:?} not found at {path} (list them with `ip netns list`)")]
    NotFound { name: String, path: PathBuf },
    #[error("cannot enter network namespace {name:?}: {source} (needs root or CAP_SYS_ADMIN)")]
    Enter { name: String, source: io::Error },
    #[error("cannot return to the original network namespace: {0}")]
    Return(io::Error),
}

/// Runs `f` with the calling thread inside network namespace `name`, then
/// moves the thread back. Sockets, links and programs attached inside stay
/// with that namespace.
pub fn in_netns<T>(name: &str, f: impl FnOnce() -> T) -> Result<T, NetnsError> {
    let path = PathBuf::from("/run/netns").join(name);
    let target = File::open(&path).map_err(|_| NetnsError::NotFound {
        name: name.to_owned(),
        path,
    })?;
    let original = File::open("/proc/thread-self/ns/net").map_err(NetnsError::Return)?;
    setns(&target).map_err(|source| NetnsError::Enter {
        name: name.to_owned(),
        source,
    })?;
    let out = f();
    setns(&original).map_err(NetnsError::Return)?;
    Ok(out)
}

fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace file descriptor for the duration of
    // the call; setns only changes the calling thread's namespace.
    let ret = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
