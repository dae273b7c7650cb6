//! Reading event records from the kernel's ring buffer.

use std::net::Ipv4Addr;

use aya::maps::{MapData, RingBuf};
use std::mem::offset_of;

use monitor_common::{
    DhcpType, Direction,
    event::{
        DhcpEvent, DhcpRecord, EventHeader, EventKind, IcmpEvent, IcmpRecord, TftpEvent,
        TftpRecord, dhcp_flags,
    },
};

use monitor_common::wire::tftp;

use crate::counters::Event;
use prometheus::IntCounterVec;
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

/// A record from the ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Dhcp(DhcpRecord),
    Icmp(IcmpRecord),
    Tftp(TftpRecord),
}

impl Record {
    pub fn header(&self) -> &EventHeader {
        match self {
            Record::Dhcp(r) => &r.header,
            Record::Icmp(r) => &r.header,
            Record::Tftp(r) => &r.header,
        }
    }

    /// The event part, as the host builds it.
    pub fn event(&self) -> Event {
        match self {
            Record::Dhcp(r) => Event::Dhcp(r.event),
            Record::Icmp(r) => Event::Icmp(r.event),
            Record::Tftp(r) => Event::Tftp(r.event),
        }
    }
}

/// A record from the ring buffer, or `None` if the bytes are not one
/// (unknown kind, or a size that does not fit the kind): counted and
/// skipped by the reader.
pub fn decode(bytes: &[u8]) -> Option<Record> {
    let kind = *bytes.get(offset_of!(EventHeader, kind))?;
    if kind == EventKind::Dhcp as u8 {
        read_pod::<DhcpRecord>(bytes).map(Record::Dhcp)
    } else if kind == EventKind::IcmpUnreachable as u8 {
        read_pod::<IcmpRecord>(bytes).map(Record::Icmp)
    } else if kind == EventKind::Tftp as u8 {
        read_pod::<TftpRecord>(bytes).map(Record::Tftp)
    } else {
        None
    }
}

fn read_pod<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() != size_of::<T>() {
        return None;
    }
    // SAFETY: `T` is plain old data (every bit pattern valid) and `bytes`
    // holds exactly its size; read_unaligned copes with any alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

/// The value of a fixed-size text field: up to `len` bytes, without the
/// NUL padding some servers add (dnsmasq NUL-terminates option 67).
pub fn text(bytes: &[u8], len: usize) -> String {
    let v = &bytes[..len.min(bytes.len())];
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// One line for the debug log.
pub fn describe(dir: u8, ev: &DhcpEvent) -> String {
    let ty = DhcpType::from_option(ev.message_type).label();
    let dir = if dir == Direction::Egress as u8 {
        "out"
    } else {
        "in"
    };
    let mac = ev.chaddr.map(|b| format!("{b:02x}")).join(":");
    let bootfile = if ev.flags & dhcp_flags::BOOTFILE != 0 {
        text(&ev.bootfile, ev.bootfile_len.into())
    } else {
        text(&ev.file, ev.file.len())
    };
    format!(
        "{dir} {ty} xid={:08x} client={mac} src={}:{} dst={}:{} yiaddr={} siaddr={} bootfile={bootfile:?} flags={:#06x}",
        u32::from_be_bytes(ev.xid),
        Ipv4Addr::from(ev.src_ip),
        u16::from_be_bytes(ev.src_port),
        Ipv4Addr::from(ev.dst_ip),
        u16::from_be_bytes(ev.dst_port),
        Ipv4Addr::from(ev.yiaddr),
        Ipv4Addr::from(ev.siaddr),
        ev.flags,
    )
}

/// One line for the debug log.
pub fn describe_icmp(ev: &IcmpEvent) -> String {
    format!(
        "icmp unreachable code {} from {}: nothing took {}:{} -> {}:{}{}",
        ev.code,
        Ipv4Addr::from(ev.reporter),
        Ipv4Addr::from(ev.quoted_src),
        u16::from_be_bytes(ev.quoted_src_port),
        Ipv4Addr::from(ev.quoted_dst),
        u16::from_be_bytes(ev.quoted_dst_port),
        if ev.transfer != 0 {
            " (a followed TFTP transfer)"
        } else {
            ""
        },
    )
}

/// One line for the debug log.
pub fn describe_tftp(ev: &TftpEvent) -> String {
    let moment = match ev.moment {
        1 => "request",
        2 => "oack",
        3 => "error",
        4 => "first data",
        5 => "last data",
        _ => "packet",
    };
    let payload = &ev.payload[..usize::from(ev.payload_len).min(ev.payload.len())];
    let text = if let Some(r) = tftp::parse_request(payload) {
        let (file, mode) = (
            String::from_utf8_lossy(r.filename),
            String::from_utf8_lossy(r.mode),
        );
        format!("file={file:?} mode={mode:?} {:?}", r.options)
    } else if let Some(o) = tftp::parse_oack(payload) {
        format!("{o:?}")
    } else if let Some((code, msg)) = tftp::parse_error(payload) {
        format!("code={code} message={:?}", String::from_utf8_lossy(msg))
    } else {
        String::new()
    };
    format!(
        "tftp {moment} client={}:{} server={}:{} opcode={} arg={} data_packets={} data_bytes={} elapsed_ms={} {}",
        Ipv4Addr::from(ev.client_ip),
        u16::from_be_bytes(ev.client_port),
        Ipv4Addr::from(ev.server_ip),
        u16::from_be_bytes(ev.server_port),
        u16::from_be_bytes(ev.opcode),
        u16::from_be_bytes(ev.arg),
        ev.data_packets,
        ev.data_bytes,
        ev.elapsed_ms,
        text,
    )
}

/// Reads one interface's ring buffer until the task is dropped: counts the
/// records, logs each at debug level and hands it to the session tracker.
///
/// The channel to the tracker is bounded: when the tracker falls behind,
/// this waits, the kernel's ring buffer fills, and what it cannot hold is
/// counted in `pxe_events_lost_total`. Memory stays bounded, losses are
/// counted in one place, and packets are never held up (the kernel side
/// only ever drops an event, never waits).
pub async fn read(
    interface: String,
    ring: RingBuf<MapData>,
    received: IntCounterVec,
    tracker: tokio::sync::mpsc::Sender<crate::live::Stamped>,
) {
    // SAFETY: the RingBuf owns its map's file descriptor, which stays open
    // and the same for as long as the RingBuf lives, i.e. inside the
    // AsyncFd until it is dropped.
    let mut fd = match unsafe { AsyncFd::register(ring) } {
        Ok(fd) => fd,
        Err(e) => {
            warn!(interface, error = %e, "cannot poll the event ring buffer; events are not read");
            return;
        }
    };
    loop {
        let mut guard = match fd.readable_mut().await {
            Ok(g) => g,
            Err(e) => {
                warn!(interface, error = %e, "polling the event ring buffer");
                return;
            }
        };
        let ring = guard.get_inner_mut();
        while let Some(item) = ring.next() {
            let record = decode(&item);
            // The record is a copy: the kernel may reuse the slot.
            drop(item);
            let kind = match &record {
                Some(Record::Dhcp(rec)) => {
                    debug!(interface, "{}", describe(rec.header.direction, &rec.event));
                    "dhcp"
                }
                Some(Record::Icmp(rec)) => {
                    debug!(interface, "{}", describe_icmp(&rec.event));
                    "icmp_unreachable"
                }
                Some(Record::Tftp(rec)) => {
                    debug!(interface, "{}", describe_tftp(&rec.event));
                    "tftp"
                }
                None => "malformed",
            };
            received
                .with_label_values(&[interface.as_str(), kind])
                .inc();
            if let Some(rec) = record {
                // The tracker task ends only with the agent.
                let _ = tracker.send((rec.event(), rec.header().timestamp_ns)).await;
            }
        }
        guard.clear_ready();
    }
}
