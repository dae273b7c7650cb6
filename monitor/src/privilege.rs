//! Least privilege for `pxe-monitor run`: who the agent runs as once its
//! programs are attached (`--user`), which capabilities the attachments
//! still need then, and the system calls that give up everything else
//! (setgroups, setresgid, setresuid, capset, the bounding and ambient
//! sets, `PR_SET_NO_NEW_PRIVS`). Every unsafe call of that lives here.
//!
//! Loading and attaching needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or
//! root). Once attached, the agent only reads maps and ring buffers through
//! file descriptors it holds, serves HTTP on a socket it bound before, and
//! detaches at exit by closing link descriptors; measured on 6.18, none of
//! that needs a capability. [`needed_after_attach`] names the exceptions
//! (older kernels, the `clsact` fallback) and why.

use std::{
    ffi::{CStr, CString},
    fmt, fs, io,
};

use thiserror::Error;
use tracing::{info, warn};

use crate::kernel::Attachment;

/// The dedicated system user the agent switches to when started as root
/// without `--user` (the Debian package creates it).
pub const DEFAULT_USER: &str = "pxe-monitor";
/// The fallback when [`DEFAULT_USER`] does not exist.
pub const FALLBACK_USER: &str = "nobody";
/// How to create [`DEFAULT_USER`], for the messages.
const CREATE_USER: &str = "adduser --system --group --no-create-home pxe-monitor";

#[derive(Debug, Error)]
pub enum PrivilegeError {
    #[error(
        "--user {user:?}: no such user (name an existing user or uid, or create the dedicated \
         one: `{CREATE_USER}`)"
    )]
    UnknownUser { user: String },
    #[error("--user {user:?}: cannot look the user up: {source}")]
    Lookup {
        user: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "no user to run as after attaching: neither {DEFAULT_USER:?} nor {FALLBACK_USER:?} exists \
         (create the dedicated one: `{CREATE_USER}`, or name one with --user USER)"
    )]
    NoDefaultUser,
    #[error(
        "cannot switch to user {user:?} after attaching: pxe-monitor runs as uid {uid} without \
         CAP_SETUID and CAP_SETGID (start it as root, or as that user with CAP_BPF, \
         CAP_NET_ADMIN and CAP_PERFMON; --user root keeps uid 0, to debug)"
    )]
    CannotSwitch { user: String, uid: u32 },
    #[error(
        "cannot drop privileges after attaching: {step}: {source} (pxe-monitor stops and \
         detaches rather than run privileged; --user root keeps uid 0 to debug)"
    )]
    Step {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot drop privileges: {threads} threads are running and capabilities are per thread \
         (a bug in pxe-monitor: the drop must come before any thread starts)"
    )]
    Threads { threads: usize },
    #[error(
        "privileges were not dropped as asked: {what} (pxe-monitor stops and detaches rather \
         than run privileged)"
    )]
    NotDropped { what: String },
}

/// A capability the agent may keep after attaching. Only these two can be
/// needed then (see [`needed_after_attach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    NetAdmin,
    Bpf,
}

impl Capability {
    /// The kernel's number (linux/capability.h).
    pub const fn number(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::Bpf => 39,
        }
    }

    /// As `setpriv` and `capsh` name it.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "cap_net_admin",
            Capability::Bpf => "cap_bpf",
        }
    }

    fn mask(caps: &[Capability]) -> u64 {
        caps.iter().fold(0, |m, c| m | 1 << c.number())
    }
}

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SETPCAP: u32 = 8;

/// The capabilities the attachments still need once attached, each for a
/// reason given here. On 6.18 with TCX and XDP links that is none.
pub fn needed_after_attach(attachments: &[(String, Attachment)]) -> Vec<Capability> {
    use aya::util::KernelVersion;
    // Unknown version: assume the older rule (keeping more is safe).
    let before_5_19 = KernelVersion::current().map_or(true, |v| v < KernelVersion::new(5, 19, 0));
    let unprivileged_bpf_disabled =
        fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
            .ok()
            .and_then(|s| s.trim().parse().ok());
    needed(
        attachments.iter().map(|(_, a)| a),
        before_5_19,
        unprivileged_bpf_disabled,
    )
}

/// [`needed_after_attach`] with the kernel's facts given.
fn needed<'a>(
    attachments: impl Iterator<Item = &'a Attachment>,
    before_5_19: bool,
    unprivileged_bpf_disabled: Option<u32>,
) -> Vec<Capability> {
    let mut keep = Vec::new();
    // CAP_NET_ADMIN: a `clsact` filter (TC before 6.6, no TCX) is not a
    // link: it stays until deleted with RTM_DELTFILTER over rtnetlink,
    // which needs CAP_NET_ADMIN. TCX links (6.6+) and XDP links (bpf_link,
    // 5.9+; pxe-monitor needs 5.11) detach when their descriptors close,
    // which needs nothing.
    if attachments.into_iter().any(|a| a.mode == "clsact") {
        keep.push(Capability::NetAdmin);
    }
    // CAP_BPF: before 5.19 (kernel commit "bpf: refine
    // kernel.unprivileged_bpf_disabled behaviour"), with
    // kernel.unprivileged_bpf_disabled set (the default of most
    // distributions), every bpf() command needs CAP_BPF, the map reads of
    // each scrape and of the session tracker included. From 5.19 only
    // creating maps and loading programs does; reading a map through a
    // descriptor held since the load needs nothing (measured on 6.18). The
    // ring buffers are read through memory mapped at attach, without bpf().
    if before_5_19 && unprivileged_bpf_disabled != Some(0) {
        keep.push(Capability::Bpf);
    }
    keep
}

/// A user from the password database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// Who the agent runs as after attaching, decided before anything is
/// attached (an unknown `--user` is refused then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAs {
    /// Started as root: switch to this user, its primary group and no
    /// supplementary groups.
    Switch(Account),
    /// Go on as the user it was started as: an unprivileged user given
    /// capabilities (a systemd unit with `User=` and
    /// `AmbientCapabilities=`), or root kept by `--user root`.
    Stay(Account),
}

impl RunAs {
    /// Reads `--user` (a name or a numeric uid): by default, a process
    /// started as root switches to [`DEFAULT_USER`], else
    /// [`FALLBACK_USER`]; one started as another user stays that user.
    pub fn resolve(user: Option<&str>) -> Result<RunAs, PrivilegeError> {
        let (uid, gid) = current_ids();
        let current = || {
            // A uid without a name (a container's) still runs.
            let name = lookup(&Key::Uid(uid))
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |a| a.name);
            RunAs::Stay(Account { name, uid, gid })
        };
        let account = match user {
            Some(flag) => Some(lookup_flag(flag)?),
            None if uid == 0 => Some(default_account()?),
            None => None,
        };
        match account {
            None => Ok(current()),
            Some(a) if a.uid == uid => Ok(current()),
            Some(a) => {
                let effective = capget().map_or(0, |s| s.effective);
                let can_switch = [CAP_SETUID, CAP_SETGID]
                    .iter()
                    .all(|c| effective & (1 << c) != 0);
                if can_switch {
                    Ok(RunAs::Switch(a))
                } else {
                    Err(PrivilegeError::CannotSwitch { user: a.name, uid })
                }
            }
        }
    }
}

impl RunAs {
    /// The account it runs as after attaching.
    pub fn account(&self) -> &Account {
        match self {
            RunAs::Switch(a) | RunAs::Stay(a) => a,
        }
    }

    /// Of `paths`, those this account will not be able to read once
    /// privileges are dropped, by their mode bits and those of every
    /// directory above them (ACLs are not read): a file the agent reads
    /// again later (a renewed certificate) must be readable by it.
    pub fn unreadable<'a>(&self, paths: &'a [std::path::PathBuf]) -> Vec<&'a std::path::Path> {
        let a = self.account();
        paths
            .iter()
            .map(std::path::PathBuf::as_path)
            .filter(|p| a.uid != 0 && !readable_by(p, a.uid, a.gid))
            .collect()
    }
}

/// Whether `uid` (primary group `gid`, no other groups) may read `path`:
/// search permission on each directory above it, read permission on it.
fn readable_by(path: &std::path::Path, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let allows = |p: &std::path::Path, bits: u32| {
        fs::metadata(p).is_ok_and(|m| {
            let shift = if m.uid() == uid {
                6
            } else if m.gid() == gid {
                3
            } else {
                0
            };
            m.mode() >> shift & bits == bits
        })
    };
    let Ok(path) = std::path::absolute(path) else {
        return false;
    };
    path.ancestors().skip(1).all(|d| allows(d, 0o1)) && allows(&path, 0o4)
}

fn default_account() -> Result<Account, PrivilegeError> {
    let find = |name: &str| {
        lookup(&Key::Name(name)).map_err(|source| PrivilegeError::Lookup {
            user: name.to_owned(),
            source,
        })
    };
    if let Some(a) = find(DEFAULT_USER)? {
        return Ok(a);
    }
    let a = find(FALLBACK_USER)?.ok_or(PrivilegeError::NoDefaultUser)?;
    info!(
        "no {DEFAULT_USER:?} user: running as {FALLBACK_USER:?} after attaching \
         (a dedicated user is better: `{CREATE_USER}`, or --user USER)"
    );
    Ok(a)
}

fn lookup_flag(flag: &str) -> Result<Account, PrivilegeError> {
    let key = match flag.parse::<u32>() {
        Ok(uid) => Key::Uid(uid),
        Err(_) => Key::Name(flag),
    };
    match lookup(&key) {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(PrivilegeError::UnknownUser {
            user: flag.to_owned(),
        }),
        Err(source) => Err(PrivilegeError::Lookup {
            user: flag.to_owned(),
            source,
        }),
    }
}

enum Key<'a> {
    Name(&'a str),
    Uid(u32),
}

/// The password database's entry (NSS: /etc/passwd, systemd's dynamic
/// users, LDAP ...), or `None` when there is none.
fn lookup(key: &Key<'_>) -> io::Result<Option<Account>> {
    enum Query {
        Name(CString),
        Uid(u32),
    }
    let query = match key {
        // A name with a NUL in it names no user.
        Key::Name(n) => match CString::new(*n) {
            Ok(c) => Query::Name(c),
            Err(_) => return Ok(None),
        },
        Key::Uid(uid) => Query::Uid(*uid),
    };
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids);
        // it is only read after the call filled it in.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let (out, len) = (buf.as_mut_ptr().cast(), buf.len());
        let rc = match &query {
            // SAFETY: `c` is NUL-terminated; `pwd`, `buf` (of the length
            // passed) and `found` are writable and outlive the call.
            Query::Name(c) => unsafe {
                libc::getpwnam_r(c.as_ptr(), &mut pwd, out, len, &mut found)
            },
            // SAFETY: as above.
            Query::Uid(uid) => unsafe { libc::getpwuid_r(*uid, &mut pwd, out, len, &mut found) },
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        // Not found is 0 with no entry; some NSS modules say ENOENT.
        if rc == libc::ENOENT || (rc == 0 && found.is_null()) {
            return Ok(None);
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in
        // `buf`, which is alive here.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
        return Ok(Some(Account {
            name,
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }));
    }
}

fn current_ids() -> (u32, u32) {
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// What the agent runs as once [`drop_privileges`] is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub kept: Vec<Capability>,
    /// Whether the bounding set could be emptied (it needs CAP_SETPCAP,
    /// which a unit with only the three ambient capabilities lacks; there
    /// `CapabilityBoundingSet=` in the unit does it).
    pub bounding_cleared: bool,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let caps: Vec<&str> = self.kept.iter().map(|c| c.name()).collect();
        write!(
            f,
            "user {} (uid {}, gid {}), capabilities kept: {}, bounding set: {}, no_new_privs",
            self.user,
            self.uid,
            self.gid,
            if caps.is_empty() {
                "none".to_owned()
            } else {
                caps.join(",")
            },
            if self.bounding_cleared {
                "empty"
            } else {
                "unchanged (no CAP_SETPCAP)"
            }
        )
    }
}

/// Gives up every privilege but `keep`: the supplementary groups, then the
/// group and user ids (all three of each, so uid 0 cannot be regained), the
/// effective, permitted, inheritable and ambient capabilities, the bounding
/// set where CAP_SETPCAP allows, and sets `PR_SET_NO_NEW_PRIVS`; then reads
/// it all back. Call it from the only thread, after everything
/// privileged is done: credentials and capabilities are per thread.
pub fn drop_privileges(run_as: &RunAs, keep: &[Capability]) -> Result<Dropped, PrivilegeError> {
    let threads = fs::read_dir("/proc/self/task").map_or(1, Iterator::count);
    if threads != 1 {
        return Err(PrivilegeError::Threads { threads });
    }
    let keep_mask = Capability::mask(keep);
    let before = capget().map_err(step("reading the capabilities (capget)"))?;
    // The bounding set first, while CAP_SETPCAP is still effective.
    let bounding_cleared = before.effective & (1 << CAP_SETPCAP) != 0;
    if bounding_cleared {
        for cap in 0..=last_cap() {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            // EINVAL: a capability this kernel does not know.
            if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
                return Err(step("emptying the bounding set (PR_CAPBSET_DROP)")(
                    io::Error::last_os_error(),
                ));
            }
        }
    }
    let account = match run_as {
        RunAs::Stay(a) => {
            if a.uid == 0 {
                warn!(
                    "--user root: pxe-monitor keeps uid 0 after attaching (its capabilities are \
                     still dropped); root-owned files stay writable to it: use this only to debug"
                );
            }
            a
        }
        RunAs::Switch(a) => {
            switch_user(a, keep_mask != 0)?;
            a
        }
    };
    capset(Sets {
        effective: keep_mask,
        permitted: keep_mask,
        inheritable: 0,
    })
    .map_err(step("setting the capabilities (capset)"))?;
    prctl0(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    )
    .or_else(|e| match e.raw_os_error() {
        // Kernels before 4.3 have no ambient set.
        Some(libc::EINVAL) => Ok(()),
        _ => Err(e),
    })
    .map_err(step("clearing the ambient capabilities"))?;
    prctl0(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(step("setting PR_SET_NO_NEW_PRIVS"))?;
    let dropped = Dropped {
        user: account.name.clone(),
        uid: account.uid,
        gid: account.gid,
        kept: keep.to_vec(),
        bounding_cleared,
    };
    verify(&dropped, matches!(run_as, RunAs::Switch(_)))?;
    info!("privileges dropped: running as {dropped}");
    Ok(dropped)
}

/// setgroups, setresgid, setresuid: in that order, each needing the
/// capabilities the next one gives up. With `keep_caps` the permitted set
/// survives the uid change (PR_SET_KEEPCAPS) for capset to narrow.
fn switch_user(a: &Account, keep_caps: bool) -> Result<(), PrivilegeError> {
    if keep_caps {
        prctl0(libc::PR_SET_KEEPCAPS, 1).map_err(step("PR_SET_KEEPCAPS"))?;
    }
    // SAFETY: a zero-length list; the null pointer is not read.
    let r = unsafe { libc::setgroups(0, std::ptr::null()) };
    check(r).map_err(step("clearing the supplementary groups (setgroups)"))?;
    // SAFETY: integer arguments only; glibc applies it to every thread.
    let r = unsafe { libc::setresgid(a.gid, a.gid, a.gid) };
    check(r).map_err(step("setting the group ids (setresgid)"))?;
    // SAFETY: integer arguments only; glibc applies it to every thread.
    let r = unsafe { libc::setresuid(a.uid, a.uid, a.uid) };
    check(r).map_err(step("setting the user ids (setresuid)"))?;
    if keep_caps {
        prctl0(libc::PR_SET_KEEPCAPS, 0).map_err(step("clearing PR_SET_KEEPCAPS"))?;
    }
    Ok(())
}

/// Reads back what [`drop_privileges`] set, and that uid 0 cannot be had
/// again.
fn verify(d: &Dropped, switched: bool) -> Result<(), PrivilegeError> {
    let not = |what: String| PrivilegeError::NotDropped { what };
    let want = Capability::mask(&d.kept);
    let sets = capget().map_err(step("reading the capabilities back (capget)"))?;
    if sets.effective != want || sets.permitted != want || sets.inheritable != 0 {
        return Err(not(format!(
            "capabilities effective {:#x}, permitted {:#x}, inheritable {:#x}, want {want:#x}",
            sets.effective, sets.permitted, sets.inheritable
        )));
    }
    let status = fs::read_to_string("/proc/thread-self/status")
        .map_err(step("reading /proc/thread-self/status"))?;
    if status_field(&status, "CapAmb") != Some(0) {
        return Err(not("ambient capabilities remain".into()));
    }
    if status_field(&status, "NoNewPrivs") != Some(1) {
        return Err(not("NoNewPrivs is not 1".into()));
    }
    if d.bounding_cleared && status_field(&status, "CapBnd") != Some(0) {
        return Err(not("the bounding set is not empty".into()));
    }
    if switched {
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: the three pointers are to live, writable u32s.
        check(unsafe { libc::getresuid(&mut r, &mut e, &mut s) }).map_err(step("getresuid"))?;
        if [r, e, s] != [d.uid; 3] {
            return Err(not(format!("user ids {r}/{e}/{s}, want {}", d.uid)));
        }
        // SAFETY: as above.
        check(unsafe { libc::getresgid(&mut r, &mut e, &mut s) }).map_err(step("getresgid"))?;
        if [r, e, s] != [d.gid; 3] {
            return Err(not(format!("group ids {r}/{e}/{s}, want {}", d.gid)));
        }
        // SAFETY: a zero-length query writes nothing.
        let groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if groups != 0 {
            return Err(not(format!("{groups} supplementary groups remain")));
        }
        if d.uid != 0 {
            // SAFETY: integer arguments only. It must fail: should it
            // succeed, the error below stops the agent.
            let regained = unsafe { libc::setresuid(0, 0, 0) } == 0;
            if regained {
                return Err(not("uid 0 could be regained".into()));
            }
        }
    }
    Ok(())
}

/// A number field of /proc/…/status: decimal, or hex for the `Cap*` sets.
fn status_field(status: &str, name: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim())
    })?;
    if name.starts_with("Cap") {
        u64::from_str_radix(value, 16).ok()
    } else {
        value.parse().ok()
    }
}

fn step(what: &'static str) -> impl Fn(io::Error) -> PrivilegeError {
    move |source| PrivilegeError::Step { step: what, source }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn prctl0(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the prctl options used here take integer arguments only.
    check(unsafe { libc::prctl(option, arg, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) })
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// The calling thread's capability sets, 64 bits each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

// linux/capability.h: the version-3 interface, two 32-bit words a set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capget() -> io::Result<Sets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 writes two CapData, which `data` holds; both
    // pointers are live and writable for the call.
    let r = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok(Sets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

fn capset(s: Sets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e, e_hi) = split(s.effective);
    let (p, p_hi) = split(s.permitted);
    let (i, i_hi) = split(s.inheritable);
    let data = [
        CapData {
            effective: e,
            permitted: p,
            inheritable: i,
        },
        CapData {
            effective: e_hi,
            permitted: p_hi,
            inheritable: i_hi,
        },
    ];
    // SAFETY: version 3 reads two CapData from `data`; both pointers are
    // live for the call. It changes only the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(hook: &'static str, mode: &'static str) -> Attachment {
        Attachment { hook, mode }
    }

    #[test]
    fn links_need_nothing_after_attach_on_current_kernels() {
        let tcx = [att("tc_ingress", "tcx"), att("tc_egress", "tcx")];
        assert_eq!(needed(tcx.iter(), false, Some(2)), []);
        let xdp = [att("xdp", "native"), att("tc_egress", "tcx")];
        assert_eq!(needed(xdp.iter(), false, Some(2)), []);
    }

    #[test]
    fn clsact_filters_keep_net_admin_to_be_deleted() {
        let clsact = [att("tc_ingress", "clsact"), att("tc_egress", "clsact")];
        assert_eq!(
            needed(clsact.iter(), false, Some(2)),
            [Capability::NetAdmin]
        );
    }

    #[test]
    fn before_5_19_map_reads_keep_bpf_unless_unprivileged_bpf_is_allowed() {
        let clsact = [att("tc_ingress", "clsact")];
        assert_eq!(
            needed(clsact.iter(), true, Some(2)),
            [Capability::NetAdmin, Capability::Bpf]
        );
        assert_eq!(needed(clsact.iter(), true, Some(0)), [Capability::NetAdmin]);
        // The sysctl unreadable: keep it.
        assert_eq!(needed([].iter(), true, None), [Capability::Bpf]);
    }

    #[test]
    fn status_fields_are_read_in_their_base() {
        let s = "Name:\tx\nNoNewPrivs:\t1\nCapEff:\t000001fffeffffff\nCapAmb:\t0000000000000000\n";
        assert_eq!(status_field(s, "NoNewPrivs"), Some(1));
        assert_eq!(status_field(s, "CapEff"), Some(0x1ff_feff_ffff));
        assert_eq!(status_field(s, "CapAmb"), Some(0));
        assert_eq!(status_field(s, "CapPrm"), None);
    }

    #[test]
    fn users_are_found_by_name_and_uid_and_unknown_ones_named() {
        let root = lookup_flag("root").expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_flag("0").expect("uid 0 exists").name, root.name);
        let e = lookup_flag("no-such-user-pxe").unwrap_err().to_string();
        assert!(
            e.contains("--user \"no-such-user-pxe\": no such user") && e.contains("adduser"),
            "{e}"
        );
        assert!(matches!(
            lookup_flag("bad\0name"),
            Err(PrivilegeError::UnknownUser { .. })
        ));
    }

    #[test]
    fn files_the_user_cannot_read_after_the_drop_are_named() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("pxe-priv-read-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let (open, private) = (dir.join("server.crt"), dir.join("server.key"));
        fs::write(&open, "x").unwrap();
        fs::write(&private, "x").unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
        let owner = fs::metadata(&private)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap();
        // Someone else: neither the owner nor in the file's group.
        let other = RunAs::Switch(Account {
            name: "someone".into(),
            uid: owner.wrapping_add(54321),
            gid: 54321,
        });
        let paths = [open.clone(), private.clone(), dir.join("missing")];
        assert_eq!(
            other.unreadable(&paths),
            [private.as_path(), dir.join("missing").as_path()]
        );
        // Its group may read it once the group bit says so.
        let group = fs::metadata(&private)
            .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
            .unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o640)).unwrap();
        let member = RunAs::Switch(Account {
            name: "member".into(),
            uid: owner.wrapping_add(54321),
            gid: group,
        });
        assert_eq!(
            member.unreadable(&paths[..2]),
            Vec::<&std::path::Path>::new()
        );
        // A directory above it without search permission hides it.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(member.unreadable(&paths[..1]), [open.as_path()]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn capability_sets_read_as_this_process_reports_them() {
        let sets = capget().expect("capget");
        let status = fs::read_to_string("/proc/thread-self/status").unwrap();
        assert_eq!(Some(sets.effective), status_field(&status, "CapEff"));
        assert_eq!(Some(sets.permitted), status_field(&status, "CapPrm"));
        assert_eq!(Some(sets.inheritable), status_field(&status, "CapInh"));
    }
}
