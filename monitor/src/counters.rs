//! Counter values of one interface, laid out like the kernel maps, and the
//! host's replica of the kernel programs (for capture files and for
//! checking the kernel against the host).

use std::collections::HashSet;

use monitor_common::{
    Class, DhcpType, Direction, ParseError, Traffic, classify,
    counters::maps::{self, dhcp_index, icmp_index, parse_error_index, traffic_index},
    event::{DhcpEvent, EventKind, IcmpEvent, fill_dhcp_event},
};

/// Counter values of one interface, indexed as in
/// `monitor_common::counters::maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub traffic: Vec<Traffic>,
    pub dhcp_types: Vec<u64>,
    pub parse_errors: Vec<u64>,
    pub icmp_unreachable: Vec<u64>,
    pub events_lost: u64,
}

impl Default for Counters {
    /// All counters present and zero.
    fn default() -> Self {
        Counters {
            traffic: vec![Traffic::default(); maps::TRAFFIC_LEN as usize],
            dhcp_types: vec![0; maps::DHCP_TYPES_LEN as usize],
            parse_errors: vec![0; maps::PARSE_ERRORS_LEN as usize],
            icmp_unreachable: vec![0; maps::ICMP_UNREACHABLE_LEN as usize],
            events_lost: 0,
        }
    }
}

impl Counters {
    pub fn packets(&self, dir: Direction, class: Class) -> u64 {
        self.traffic[traffic_index(dir, class) as usize].packets
    }

    /// DHCP messages of one type, PXE exchange or not.
    pub fn dhcp(&self, dir: Direction, ty: DhcpType) -> u64 {
        self.dhcp_pxe(dir, true, ty) + self.dhcp_pxe(dir, false, ty)
    }

    pub fn dhcp_pxe(&self, dir: Direction, pxe: bool, ty: DhcpType) -> u64 {
        self.dhcp_types[dhcp_index(dir, pxe, ty) as usize]
    }

    /// ICMP destination unreachable quoting a datagram of this class.
    pub fn icmp(&self, dir: Direction, quoted: Class) -> u64 {
        self.icmp_unreachable[icmp_index(dir, quoted) as usize]
    }

    pub fn parse_error(&self, dir: Direction, e: ParseError) -> u64 {
        self.parse_errors[parse_error_index(dir, e) as usize]
    }
}

/// An event as the kernel sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived copies of fixed-size kernel records; boxing would allocate per event"
)]
pub enum Event {
    Dhcp(DhcpEvent),
    Icmp(IcmpEvent),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Dhcp(_) => EventKind::Dhcp,
            Event::Icmp(_) => EventKind::IcmpUnreachable,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Event::Dhcp(e) => e.as_bytes(),
            Event::Icmp(e) => e.as_bytes(),
        }
    }
}

/// Does on the host what the kernel programs do for each frame, with the
/// same shared code: counters, PXE transactions, events.
#[derive(Debug, Default)]
pub struct HostObserver {
    pub counters: Counters,
    /// xids of transactions started by boot clients (the kernel's LRU map;
    /// unbounded here).
    pub pxe_xids: HashSet<u32>,
    /// Events in the order of the frames.
    pub events: Vec<(Direction, Event)>,
}

impl HostObserver {
    pub fn observe(&mut self, frame: &[u8], dir: Direction) {
        let c = classify(frame);
        let t = &mut self.counters.traffic[traffic_index(dir, c.class) as usize];
        t.packets += 1;
        t.bytes += frame.len() as u64;
        if let Some(e) = c.error {
            self.counters.parse_errors[parse_error_index(dir, e) as usize] += 1;
        }
        if let Some(u) = &c.icmp {
            self.counters.icmp_unreachable[icmp_index(dir, u.quoted_class) as usize] += 1;
            if IcmpEvent::is_pxe_related(u) {
                self.events.push((dir, Event::Icmp(IcmpEvent::new(u))));
            }
        }
        let Some(loc) = &c.dhcp else { return };
        let pxe = loc.is_pxe(c.class, self.pxe_xids.contains(&loc.xid));
        if let Some(ty) = c.dhcp_type {
            self.counters.dhcp_types[dhcp_index(dir, pxe, ty) as usize] += 1;
        }
        if pxe {
            let mut ev = DhcpEvent::zeroed();
            if fill_dhcp_event(frame, loc, c.class, pxe, &mut ev) {
                self.events.push((dir, Event::Dhcp(ev)));
            }
        }
        if !self.pxe_xids.contains(&loc.xid) && loc.starts_pxe_transaction() {
            self.pxe_xids.insert(loc.xid);
        }
    }
}
