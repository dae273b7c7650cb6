//! Attaching the programs to one interface ([`Probe`]): which ingress hook
//! (TC by default: native XDP changes the driver's receive path for all of
//! the host's traffic), and living beside what others attached: never
//! replacing a program, and saying whose program is in the way.

use aya::{
    Ebpf,
    maps::{MapData, RingBuf},
    programs::{SchedClassifier, TcAttachType, Xdp, XdpMode, tc},
};
use monitor_common::{
    conn::{ConnFamilyKey, ConnKey, ConnKey6, HttpConn},
    counters::maps::{EVENTS, TFTP_FLOWS, TFTP_FLOWS6, TFTP_PORTS},
    flow::{FamilyKey, TftpFlow, TftpKey, TftpKey6, TftpSlot},
};
use tracing::{info, warn};

use super::{
    BARE_TC_PROGRAM, BARE_XDP_PROGRAM, MapSizes, ProbeError, TC_INGRESS_PROGRAM, TC_PROGRAM,
    XDP_PROGRAM, if_index, load_with, netlink, program, read_counters,
};
use crate::counters::Counters;

/// Where the ingress program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressHook {
    /// TC ingress (TCX on 6.6+, a `clsact` qdisc before), falling back to
    /// native XDP, then generic XDP, where TC cannot attach.
    Auto,
    /// TC ingress only.
    Tc,
    /// Native (driver) XDP only.
    Xdp,
    /// Generic (skb) XDP only.
    XdpGeneric,
}

/// What to attach.
#[derive(Clone, Copy, Debug)]
pub struct AttachOptions {
    pub ingress: IngressHook,
    /// Also the TC egress program (a monitor on the server sees its own
    /// replies).
    pub egress: bool,
    /// The do-nothing baseline programs instead (benchmarks).
    pub bare: bool,
    /// The programs' own records of rare conditions (`super::log`).
    pub kernel_log: bool,
}

/// How a hook ended up attached (`pxe_program_attached{hook, mode}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// `tc_ingress`, `xdp` or `tc_egress`.
    pub hook: &'static str,
    /// `tcx` or `clsact` for TC; `native` or `skb` for XDP.
    pub mode: &'static str,
}

/// One interface being watched: its own loaded object (maps) and links.
/// Dropping it detaches the programs (links die with the process too, so
/// nothing stays attached after `kill -9` on kernels with TCX and XDP
/// links).
pub struct Probe {
    pub interface: String,
    pub attachments: Vec<Attachment>,
    ebpf: Ebpf,
    /// The reader of the programs' own records, when asked for.
    kernel_log: Option<aya_log::EbpfLogger<super::log::KernelLog>>,
}

impl Probe {
    /// Loads a fresh copy of the programs and attaches them to `interface`.
    pub fn attach(
        interface: &str,
        opts: &AttachOptions,
        sizes: &MapSizes,
    ) -> Result<Probe, ProbeError> {
        let ifindex = if_index(interface)?;
        let mut ebpf = load_with(sizes, opts.kernel_log)?;
        let kernel_log = opts
            .kernel_log
            .then(|| super::log::reader(&mut ebpf, interface))
            .flatten();
        let mut attachments = Vec::new();
        let (tc_in, xdp_name, tc_out) = if opts.bare {
            (BARE_TC_PROGRAM, BARE_XDP_PROGRAM, BARE_TC_PROGRAM)
        } else {
            (TC_INGRESS_PROGRAM, XDP_PROGRAM, TC_PROGRAM)
        };
        refuse_a_second_monitor(interface, ifindex)?;
        let ingress = match opts.ingress {
            IngressHook::Tc => attach_tc(&mut ebpf, interface, tc_in, TcAttachType::Ingress)?,
            IngressHook::Xdp => {
                attach_xdp(&mut ebpf, interface, ifindex, xdp_name, XdpMode::Driver)?
            }
            IngressHook::XdpGeneric => {
                attach_xdp(&mut ebpf, interface, ifindex, xdp_name, XdpMode::Skb)?
            }
            IngressHook::Auto => {
                match attach_tc(&mut ebpf, interface, tc_in, TcAttachType::Ingress) {
                    Ok(a) => a,
                    Err(e @ ProbeError::MissingPrivileges { .. }) => return Err(e),
                    Err(e) => {
                        warn!(interface, error = %e, "TC ingress failed; using XDP");
                        attach_xdp_native_else_generic(&mut ebpf, interface, ifindex, xdp_name)?
                    }
                }
            }
        };
        attachments.push(ingress);
        if opts.egress {
            attachments.push(attach_tc(
                &mut ebpf,
                interface,
                tc_out,
                TcAttachType::Egress,
            )?);
        }
        info!(interface, ?attachments, "attached");
        Ok(Probe {
            interface: interface.to_owned(),
            attachments,
            ebpf,
            kernel_log,
        })
    }

    /// Takes the event ring buffer out of the object, for a reader task.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, aya::maps::MapError> {
        let map = self
            .ebpf
            .take_map(EVENTS)
            .ok_or_else(|| aya::maps::MapError::InvalidName {
                name: EVENTS.to_owned(),
            })?;
        RingBuf::try_from(map)
    }

    /// Takes the reader of the programs' own records, for a task.
    pub fn take_kernel_log(&mut self) -> Option<aya_log::EbpfLogger<super::log::KernelLog>> {
        self.kernel_log.take()
    }

    /// Where the kernel's transfer tables say a TFTP transfer stands.
    pub fn tftp_flow(&self, key: &FamilyKey) -> Option<TftpFlow> {
        match key {
            FamilyKey::V4(k) => self.tftp_flow4(k),
            FamilyKey::V6(k) => {
                let m = self.ebpf.map(TFTP_FLOWS6)?;
                let flows: aya::maps::HashMap<&MapData, TftpKey6, TftpFlow> =
                    aya::maps::HashMap::try_from(m).ok()?;
                flows.get(k, 0).ok()
            }
        }
    }

    /// A transfer over IPv4: in its port's slot, else in the overflow
    /// table.
    fn tftp_flow4(&self, key: &TftpKey) -> Option<TftpFlow> {
        let slots: aya::maps::Array<&MapData, TftpSlot> =
            aya::maps::Array::try_from(self.ebpf.map(TFTP_PORTS)?).ok()?;
        if let Ok(slot) = slots.get(&key.port_index(), 0)
            && slot.holds(key)
        {
            return Some(slot.flow);
        }
        let m = self.ebpf.map(TFTP_FLOWS)?;
        let flows: aya::maps::HashMap<&MapData, TftpKey, TftpFlow> =
            aya::maps::HashMap::try_from(m).ok()?;
        flows.get(key, 0).ok()
    }

    /// Where the kernel's connection table of the family says a web
    /// connection stands (the key in the events' form).
    pub fn http_conn(&self, key: &ConnKey6) -> Option<HttpConn> {
        use monitor_common::counters::maps::{HTTP_CONNS, HTTP_CONNS6};
        match ConnFamilyKey::of(key) {
            ConnFamilyKey::V4(k) => {
                let conns: aya::maps::HashMap<&MapData, ConnKey, HttpConn> =
                    aya::maps::HashMap::try_from(self.ebpf.map(HTTP_CONNS)?).ok()?;
                conns.get(&k, 0).ok()
            }
            ConnFamilyKey::V6(k) => {
                let conns: aya::maps::HashMap<&MapData, ConnKey6, HttpConn> =
                    aya::maps::HashMap::try_from(self.ebpf.map(HTTP_CONNS6)?).ok()?;
                conns.get(&k, 0).ok()
            }
        }
    }

    /// Reads the counter maps, summed over all possible CPUs.
    pub fn read(&self) -> Result<Counters, aya::maps::MapError> {
        read_counters(&self.ebpf)
    }
}

/// Our programs' names as the kernel keeps them (`bpftool prog show`).
const OURS: [&str; 3] = [TC_INGRESS_PROGRAM, TC_PROGRAM, XDP_PROGRAM];

/// Fails when a pxe-monitor already watches `interface`: TCX runs
/// programs side by side, so a second one would attach and count every
/// packet twice. (Kernels before 6.6 have no TCX query: not checked.)
fn refuse_a_second_monitor(interface: &str, ifindex: u32) -> Result<(), ProbeError> {
    for attach_type in [TcAttachType::Ingress, TcAttachType::Egress] {
        let Ok((_, programs)) = SchedClassifier::query_tcx(interface, attach_type) else {
            continue;
        };
        for p in programs {
            if p.name_as_str().is_some_and(|n| OURS.contains(&n)) {
                return Err(ProbeError::AlreadyWatched {
                    interface: interface.to_owned(),
                    hook: if attach_type == TcAttachType::Ingress {
                        "TC ingress"
                    } else {
                        "TC egress"
                    },
                    prog_id: p.id(),
                });
            }
        }
    }
    if let Some((id, name)) = foreign_xdp(ifindex)
        && name.as_deref() == Some(XDP_PROGRAM)
    {
        return Err(ProbeError::AlreadyWatched {
            interface: interface.to_owned(),
            hook: "XDP",
            prog_id: id,
        });
    }
    Ok(())
}

/// The XDP program on the interface, if any: its id and name.
fn foreign_xdp(ifindex: u32) -> Option<(u32, Option<String>)> {
    let attached = netlink::xdp_attached(ifindex).ok().flatten()?;
    let name = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == attached.prog_id)
        .and_then(|p| p.name_as_str().map(str::to_owned));
    Some((attached.prog_id, name))
}

fn attach_tc(
    ebpf: &mut Ebpf,
    interface: &str,
    name: &'static str,
    attach_type: TcAttachType,
) -> Result<Attachment, ProbeError> {
    let prog: &mut SchedClassifier = program(ebpf, name)?;
    let action = || format!("attaching {name} to {interface} ({attach_type:?})");
    let mode = match prog.attach(interface, attach_type) {
        Ok(_) => "tcx",
        // Kernels before 6.6 (no TCX) need a clsact qdisc first.
        Err(_) => {
            if let Err(e) = tc::qdisc_add_clsact(interface) {
                tracing::debug!(interface, error = %e, "adding clsact qdisc");
            }
            prog.attach(interface, attach_type)
                .map_err(|e| ProbeError::from_aya(action(), name, e))?;
            "clsact"
        }
    };
    Ok(Attachment {
        hook: if attach_type == TcAttachType::Ingress {
            "tc_ingress"
        } else {
            "tc_egress"
        },
        mode,
    })
}

/// Native XDP, else generic XDP (`--ingress auto` where TC cannot attach);
/// never over another program, and never without the privileges.
fn attach_xdp_native_else_generic(
    ebpf: &mut Ebpf,
    interface: &str,
    ifindex: u32,
    name: &'static str,
) -> Result<Attachment, ProbeError> {
    match attach_xdp(ebpf, interface, ifindex, name, XdpMode::Driver) {
        Ok(a) => Ok(a),
        Err(e @ (ProbeError::MissingPrivileges { .. } | ProbeError::ForeignXdp { .. })) => Err(e),
        Err(e) => {
            warn!(interface, error = %e, "native XDP failed; using generic (skb) mode");
            attach_xdp(ebpf, interface, ifindex, name, XdpMode::Skb)
        }
    }
}

/// XDP, never over a program someone else attached (the kernel refuses
/// anyway; this says whose it is and what to do).
fn attach_xdp(
    ebpf: &mut Ebpf,
    interface: &str,
    ifindex: u32,
    name: &'static str,
    mode: XdpMode,
) -> Result<Attachment, ProbeError> {
    if let Some((prog_id, prog_name)) = foreign_xdp(ifindex) {
        return Err(ProbeError::ForeignXdp {
            interface: interface.to_owned(),
            prog_id,
            prog_name: prog_name.unwrap_or_else(|| "(unnamed)".into()),
        });
    }
    let prog: &mut Xdp = program(ebpf, name)?;
    prog.attach(interface, mode)
        .map_err(|e| ProbeError::from_aya(format!("attaching XDP to {interface}"), name, e))?;
    Ok(Attachment {
        hook: "xdp",
        mode: if mode == XdpMode::Driver {
            "native"
        } else {
            "skb"
        },
    })
}
