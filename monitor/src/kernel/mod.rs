//! The kernel side, as the agent sees it: loading the eBPF object (map
//! sizes, verifier errors, missing privileges), attaching it to an
//! interface ([`Probe`]), reading its counter and transfer maps, the clock
//! its events are stamped with, and (in `ring`) reading its event ring
//! buffer.
//!
//! One object is loaded per interface, so every interface has its own maps
//! and the metrics can carry an `interface` label without a map key for it.

mod attach;
pub mod log;
mod netlink;
mod permission;
pub mod ring;

pub use attach::{AttachOptions, Attachment, IngressHook, Probe};
pub use permission::PermissionCause;

use std::{ffi::CString, io, sync::Mutex};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray},
    programs::{ProgramError, SchedClassifier, Xdp},
};
use monitor_common::{
    Traffic,
    conn::{ConnKey6, HttpConn, WebPorts},
    counters::maps::{
        self, DHCP_TYPES, EVENTS, EVENTS_BYTES, EVENTS_LOST, ICMP_UNREACHABLE, PARSE_ERRORS,
        PXE_XIDS, PXE_XIDS_LEN, TFTP_ERRORS, TFTP_FLOWS, TFTP_FLOWS_LEN, TFTP_OPCODES, TRAFFIC,
    },
    flow::{FamilyKey, TftpFlow},
};
use thiserror::Error;

use crate::counters::Counters;

/// The eBPF object built by `build.rs` (aya-build) from `monitor-ebpf`.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor"));

pub const XDP_PROGRAM: &str = "pxe_xdp";
pub const TC_PROGRAM: &str = "pxe_tc_egress";
pub const TC_INGRESS_PROGRAM: &str = "pxe_tc_ingress";
/// An XDP program that only passes frames: the benchmarks' baseline.
pub const BARE_XDP_PROGRAM: &str = "bare_pass";
/// A TC program that only passes frames: the benchmarks' baseline.
pub const BARE_TC_PROGRAM: &str = "bare_tc";
/// Verifier log lines shown when a program is rejected.
const VERIFIER_TAIL: usize = 20;

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error(
        "interface {name:?} not found in this network namespace (list them with `ip link`; \
         for an interface inside a named namespace add `--netns NAME`)"
    )]
    InterfaceNotFound { name: String },
    #[error(
        "this pxe-monitor was built without its eBPF programs (AYA_BUILD_SKIP); \
         rebuild after `cargo xtask setup`"
    )]
    NoObject,
    #[error("permission denied while {action}: {cause}")]
    MissingPrivileges {
        action: String,
        cause: PermissionCause,
        #[source]
        source: BoxError,
    },
    #[error("the kernel verifier rejected program {program}: {io_error}\n{verifier_tail}")]
    Verifier {
        program: &'static str,
        io_error: io::Error,
        verifier_tail: String,
    },
    #[error(
        "interface {interface:?} already has XDP program {prog_name:?} (id {prog_id}) attached, and \
         pxe-monitor never replaces another program: use `--ingress tc` (or the default `auto`), which \
         runs beside it, or detach it yourself if it is not needed (`ip link set dev {interface} xdp off`)"
    )]
    ForeignXdp {
        interface: String,
        prog_id: u32,
        prog_name: String,
    },
    #[error(
        "another pxe-monitor already watches {interface:?} ({hook} program id {prog_id}; \
         `bpftool prog show id {prog_id}` shows it): stop that one first, or watch another interface"
    )]
    AlreadyWatched {
        interface: String,
        hook: &'static str,
        prog_id: u32,
    },
    #[error("{action} failed")]
    Other {
        action: String,
        #[source]
        source: BoxError,
    },
}

/// A boxed error, so `ProbeError` can wrap aya's several error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ProbeError {
    /// Sorts an aya failure: a permission problem anywhere in its chain, a
    /// verifier rejection, or anything else.
    fn from_aya<E>(action: impl Into<String>, program: &'static str, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let action = action.into();
        if let Some(ProgramError::LoadError {
            io_error,
            verifier_log,
        }) = (&err as &dyn std::error::Error).downcast_ref::<ProgramError>()
        {
            // EACCES with a verifier log is a rejection, not a privilege
            // problem; EPERM is.
            if io_error.raw_os_error() == Some(libc::EPERM) {
                return ProbeError::MissingPrivileges {
                    action,
                    cause: PermissionCause::of_this_process(),
                    source: Box::new(err),
                };
            }
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(VERIFIER_TAIL)..].join("\n");
            return ProbeError::Verifier {
                program,
                io_error: io::Error::from(io_error.kind()),
                verifier_tail: tail,
            };
        }
        if chain_has_permission_error(&err) {
            ProbeError::MissingPrivileges {
                action,
                cause: PermissionCause::of_this_process(),
                source: Box::new(err),
            }
        } else {
            ProbeError::Other {
                action,
                source: Box::new(err),
            }
        }
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

fn chain_has_permission_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && is_permission(io)
        {
            return true;
        }
        if let Some(aya::sys::SyscallError { io_error, .. }) = e.downcast_ref()
            && is_permission(io_error)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Loads the object and both programs into the kernel (verifying them),
/// without attaching anything.
pub fn load() -> Result<Ebpf, ProbeError> {
    load_sized(&MapSizes::default())
}

/// What `pxe-monitor check` prints: each program as the verifier measured
/// it, and each map.
#[derive(Debug)]
pub struct CheckReport {
    pub programs: Vec<ProgramCheck>,
    pub maps: Vec<MapCheck>,
}

#[derive(Debug)]
pub struct ProgramCheck {
    pub name: &'static str,
    pub kind: &'static str,
    /// Translated instructions.
    pub instructions: Option<u32>,
    /// Instructions the verifier processed.
    pub verified: Option<u32>,
}

#[derive(Debug)]
pub struct MapCheck {
    pub name: String,
    pub kind: &'static str,
    pub entries: Option<u32>,
}

/// Loads and verifies every program without attaching, and reads back
/// what the verifier measured.
pub fn check() -> Result<CheckReport, ProbeError> {
    let ebpf = load()?;
    let info_error = |name: &'static str| {
        move |e: ProgramError| ProbeError::from_aya(format!("reading {name}'s info"), name, e)
    };
    let mut programs = Vec::new();
    for (name, kind) in [
        (TC_INGRESS_PROGRAM, "tc classifier"),
        (XDP_PROGRAM, "xdp"),
        (TC_PROGRAM, "tc classifier"),
    ] {
        let prog = ebpf.program(name).ok_or_else(|| ProbeError::Other {
            action: format!("finding program {name} in the eBPF object"),
            source: "not present".into(),
        })?;
        let info = match prog {
            aya::programs::Program::Xdp(p) => p.info().map_err(info_error(name))?,
            aya::programs::Program::SchedClassifier(p) => p.info().map_err(info_error(name))?,
            _ => continue,
        };
        programs.push(ProgramCheck {
            name,
            kind,
            // Translated size in bytes; a BPF instruction is 8 bytes.
            instructions: info.size_translated().map(|b| b / 8),
            verified: info.verified_instruction_count(),
        });
    }
    let maps = ebpf
        .maps()
        .map(|(name, map)| {
            let (kind, entries) = match map {
                aya::maps::Map::PerCpuArray(d) => {
                    ("percpu_array", d.info().ok().map(|i| i.max_entries()))
                }
                aya::maps::Map::Array(d) => ("array", d.info().ok().map(|i| i.max_entries())),
                _ => ("other", None),
            };
            MapCheck {
                name: name.to_owned(),
                kind,
                entries,
            }
        })
        .collect();
    Ok(CheckReport { programs, maps })
}

/// Sizes of the maps that hold state or events, and the web ports the
/// programs follow besides 80, 8080 and 443: all fixed when the object is
/// loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSizes {
    /// Event ring buffer, bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// PXE transactions remembered (LRU).
    pub pxe_xids: u32,
    /// TFTP transfers followed (LRU).
    pub tftp_flows: u32,
    /// `--http-port`, `--https-port`.
    pub web_ports: WebPorts,
}

impl Default for MapSizes {
    fn default() -> Self {
        MapSizes {
            ring_bytes: EVENTS_BYTES,
            pxe_xids: PXE_XIDS_LEN,
            tftp_flows: TFTP_FLOWS_LEN,
            web_ports: WebPorts::default(),
        }
    }
}

/// [`load`] with the given map sizes.
pub fn load_sized(sizes: &MapSizes) -> Result<Ebpf, ProbeError> {
    load_with(sizes, false)
}

/// [`load_sized`], with the programs' own records of rare conditions on or
/// off (`kernel_log`: see `log`).
pub fn load_with(sizes: &MapSizes, kernel_log: bool) -> Result<Ebpf, ProbeError> {
    if EBPF_OBJECT.is_empty() {
        return Err(ProbeError::NoObject);
    }
    raise_memlock_limit();
    let level = log::level(kernel_log);
    let extra = u32::from(sizes.web_ports.has_extra());
    let mut ebpf = EbpfLoader::new()
        .override_global(aya_log::LEVEL, &level, true)
        .override_global(maps::WEB_PORTS, &sizes.web_ports, true)
        .override_global(maps::WEB_PORTS_EXTRA, &extra, true)
        .map_max_entries(EVENTS, sizes.ring_bytes)
        .map_max_entries(PXE_XIDS, sizes.pxe_xids)
        .map_max_entries(maps::PXE6_XIDS, sizes.pxe_xids)
        .map_max_entries(TFTP_FLOWS, sizes.tftp_flows)
        .map_max_entries(maps::TFTP_FLOWS6, sizes.tftp_flows)
        .load(EBPF_OBJECT)
        .map_err(|e| {
            let action = format!(
                "creating the maps and loading the eBPF object (--ring-buffer-bytes {}, \
                 --max-pxe-transactions {}, --max-tftp-transfers {}: smaller sizes need less \
                 kernel memory)",
                sizes.ring_bytes, sizes.pxe_xids, sizes.tftp_flows
            );
            ProbeError::from_aya(action, "(maps)", e)
        })?;
    for name in [XDP_PROGRAM, BARE_XDP_PROGRAM] {
        let xdp: &mut Xdp = program(&mut ebpf, name)?;
        xdp.load()
            .map_err(|e| ProbeError::from_aya(format!("loading {name}"), name, e))?;
    }
    for name in [TC_INGRESS_PROGRAM, TC_PROGRAM, BARE_TC_PROGRAM] {
        let tc: &mut SchedClassifier = program(&mut ebpf, name)?;
        tc.load()
            .map_err(|e| ProbeError::from_aya(format!("loading {name}"), name, e))?;
    }
    Ok(ebpf)
}

/// The programs of the benchmark's "cost of the parts" table (each one part
/// of the monitor's work, `monitor-ebpf/src/cost.rs`), with what each does.
pub const COST_PROGRAMS: [(&str, &str); 10] = [
    (
        "cost_count",
        "the class counter every frame pays (per-CPU packets and bytes)",
    ),
    ("cost_clock", "precise clock (bpf_ktime_get_ns)"),
    (
        "cost_clock_coarse",
        "coarse clock (bpf_ktime_get_coarse_ns)",
    ),
    ("cost_record_16", "ring-buffer record, 16 bytes"),
    ("cost_record_tftp", "ring-buffer record, TFTP event"),
    ("cost_record_dhcp", "ring-buffer record, DHCP event"),
    (
        "cost_xid_lookup",
        "PXE transaction lookup (LRU hash, found)",
    ),
    (
        "cost_copy_20",
        "20 bytes copied out of the frame (bpf_probe_read_kernel)",
    ),
    (
        "cost_copy_20_load_bytes",
        "20 bytes copied out of the frame (bpf_xdp_load_bytes)",
    ),
    (
        "cost_settle_ipv6",
        "the fewest instructions that settle an IPv6 RA and count it (the floor under stage one)",
    ),
];

/// Loads the [`COST_PROGRAMS`] of an object from [`load_sized`] (never done
/// by the agent).
pub fn load_costs(ebpf: &mut Ebpf) -> Result<(), ProbeError> {
    for (name, _) in COST_PROGRAMS {
        let xdp: &mut Xdp = program(ebpf, name)?;
        xdp.load()
            .map_err(|e| ProbeError::from_aya(format!("loading {name}"), name, e))?;
    }
    Ok(())
}

pub(super) fn program<'a, P>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut P, ProbeError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf.program_mut(name).ok_or_else(|| ProbeError::Other {
        action: format!("finding program {name} in the eBPF object"),
        source: "not present".into(),
    })?;
    p.try_into()
        .map_err(|e| ProbeError::from_aya(format!("opening program {name}"), name, e))
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
fn raise_memlock_limit() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
    if ret != 0 {
        tracing::debug!(
            "could not raise RLIMIT_MEMLOCK: {}",
            io::Error::last_os_error()
        );
    }
}

/// Every interface's probe, shared by the scrape (counters) and the session
/// tracker (where each transfer stands). Dropping them detaches.
#[derive(Default)]
pub struct Probes(Mutex<Vec<Probe>>);

impl Probes {
    pub fn new(probes: Vec<Probe>) -> Self {
        Probes(Mutex::new(probes))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Probe>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a TFTP transfer stands, from whichever interface follows it.
    pub fn tftp_flow(&self, key: &FamilyKey) -> Option<TftpFlow> {
        self.lock().iter().find_map(|p| p.tftp_flow(key))
    }

    /// Where a web connection stands, from whichever interface follows it.
    pub fn http_conn(&self, key: &ConnKey6) -> Option<HttpConn> {
        self.lock().iter().find_map(|p| p.http_conn(key))
    }

    /// Each interface's counters, or why they could not be read.
    pub fn read_all(&self) -> Vec<(String, Result<Counters, aya::maps::MapError>)> {
        self.lock()
            .iter()
            .map(|p| (p.interface.clone(), p.read()))
            .collect()
    }

    /// Entries each interface's tables pushed out so far: (interface, PXE
    /// transactions, TFTP transfers).
    pub fn table_evictions(&self) -> Vec<(String, u64, u64)> {
        self.lock()
            .iter()
            .filter_map(|p| {
                let (x, f) = p.read().ok()?.table_evictions();
                Some((p.interface.clone(), x, f))
            })
            .collect()
    }

    /// Whether any interface has counted a DHCP message (of any client,
    /// PXE or not).
    pub fn dhcp_seen(&self) -> bool {
        self.lock()
            .iter()
            .any(|p| p.read().is_ok_and(|c| c.dhcp_types.iter().any(|n| *n > 0)))
    }

    /// (interface, hook, mode) of every attached program.
    pub fn attachments(&self) -> Vec<(String, Attachment)> {
        self.lock()
            .iter()
            .flat_map(|p| {
                p.attachments
                    .iter()
                    .map(|a| (p.interface.clone(), a.clone()))
            })
            .collect()
    }

    /// Detaches every program (drops the probes).
    pub fn detach_all(&self) {
        self.lock().clear();
    }
}

/// CLOCK_MONOTONIC, the clock of `bpf_ktime_get_ns` that stamps every
/// event.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Reads all counters of one loaded object, summed over all possible CPUs;
/// also used by tests that run the programs with `BPF_PROG_TEST_RUN`.
pub fn read_counters(ebpf: &Ebpf) -> Result<Counters, aya::maps::MapError> {
    let sum = |name: &str, slots: &mut [u64]| -> Result<(), aya::maps::MapError> {
        let m: PerCpuArray<&MapData, u64> = map(ebpf, name)?;
        for (i, slot) in (0..).zip(slots.iter_mut()) {
            *slot = m.get(&i, 0)?.iter().sum();
        }
        Ok(())
    };
    let mut c = Counters::default();
    let traffic: PerCpuArray<&MapData, Traffic> = map(ebpf, TRAFFIC)?;
    for (i, slot) in (0..).zip(c.traffic.iter_mut()) {
        *slot = traffic
            .get(&i, 0)?
            .iter()
            .fold(Traffic::default(), |a, v| Traffic {
                packets: a.packets + v.packets,
                bytes: a.bytes + v.bytes,
            });
    }
    sum(DHCP_TYPES, &mut c.dhcp_types)?;
    sum(maps::DHCP6_TYPES, &mut c.dhcp6_types)?;
    sum(PARSE_ERRORS, &mut c.parse_errors)?;
    sum(ICMP_UNREACHABLE, &mut c.icmp_unreachable)?;
    sum(TFTP_OPCODES, &mut c.tftp_opcodes)?;
    sum(TFTP_ERRORS, &mut c.tftp_errors)?;
    sum(maps::WEB_SEGMENTS, &mut c.web_segments)?;
    sum(maps::WEB_BYTES, &mut c.web_bytes)?;
    let mut lost = [0; maps::EVENTS_LOST_LEN as usize];
    sum(EVENTS_LOST, &mut lost)?;
    c.events_lost = lost[maps::LOST_FULL as usize];
    c.events_shed = lost[maps::LOST_SHED as usize];
    let mut new = [0; maps::TABLE_NEW_LEN as usize];
    sum(maps::TABLE_NEW, &mut new)?;
    c.new_xids = new[maps::NEW_XID as usize];
    c.new_flows = new[maps::NEW_FLOW as usize];
    c.new_overflow = new[maps::NEW_OVERFLOW as usize];
    c.new_conns = new[maps::NEW_CONN as usize];
    c.new_clients = new[maps::NEW_CLIENT as usize];
    c.new_xids6 = new[maps::NEW_XID6 as usize];
    c.new_flows6 = new[maps::NEW_FLOW6 as usize];
    c.new_conns6 = new[maps::NEW_CONN6 as usize];
    c.new_clients6 = new[maps::NEW_CLIENT6 as usize];
    let size = |name: &str| -> Result<u32, aya::maps::MapError> {
        let m = ebpf
            .map(name)
            .ok_or_else(|| aya::maps::MapError::InvalidName {
                name: name.to_owned(),
            })?;
        let data = match m {
            aya::maps::Map::LruHashMap(d) | aya::maps::Map::HashMap(d) => d,
            _ => {
                return Err(aya::maps::MapError::InvalidName {
                    name: name.to_owned(),
                });
            }
        };
        Ok(data.info()?.max_entries())
    };
    c.xids_size = size(PXE_XIDS)?;
    c.flows_size = size(TFTP_FLOWS)?;
    c.conns_size = size(maps::HTTP_CONNS)?;
    c.clients_size = size(maps::BOOT_CLIENTS)?;
    c.xids6_size = size(maps::PXE6_XIDS)?;
    c.flows6_size = size(maps::TFTP_FLOWS6)?;
    c.conns6_size = size(maps::HTTP_CONNS6)?;
    c.clients6_size = size(maps::BOOT_CLIENTS6)?;
    Ok(c)
}

pub fn map<'a, T: aya::Pod>(
    ebpf: &'a Ebpf,
    name: &str,
) -> Result<PerCpuArray<&'a MapData, T>, aya::maps::MapError> {
    let m = ebpf
        .map(name)
        .ok_or_else(|| aya::maps::MapError::InvalidName {
            name: name.to_owned(),
        })?;
    PerCpuArray::try_from(m)
}

pub(super) fn if_index(name: &str) -> Result<u32, ProbeError> {
    let not_found = || ProbeError::InterfaceNotFound {
        name: name.to_owned(),
    };
    let c = CString::new(name).map_err(|_| not_found())?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(not_found())
    } else {
        Ok(index)
    }
}
