//! Counter values of one interface, laid out like the kernel maps, and the
//! host's replica of the kernel programs (for capture files and for
//! checking the kernel against the host).

use std::collections::HashSet;

use monitor_common::{
    Class, DhcpType, Direction, ParseError, Traffic, classify,
    counters::maps::{self, dhcp_index, parse_error_index, traffic_index},
    event::{DhcpEvent, fill_dhcp_event},
};

/// Counter values of one interface, indexed as in
/// `monitor_common::counters::maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub traffic: Vec<Traffic>,
    pub dhcp_types: Vec<u64>,
    pub parse_errors: Vec<u64>,
    pub events_lost: u64,
}

impl Default for Counters {
    /// All counters present and zero.
    fn default() -> Self {
        Counters {
            traffic: vec![Traffic::default(); maps::TRAFFIC_LEN as usize],
            dhcp_types: vec![0; maps::DHCP_TYPES_LEN as usize],
            parse_errors: vec![0; maps::PARSE_ERRORS_LEN as usize],
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

    pub fn parse_error(&self, dir: Direction, e: ParseError) -> u64 {
        self.parse_errors[parse_error_index(dir, e) as usize]
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
    pub events: Vec<(Direction, DhcpEvent)>,
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
        let Some(loc) = &c.dhcp else { return };
        let pxe = loc.is_pxe(c.class, self.pxe_xids.contains(&loc.xid));
        if let Some(ty) = c.dhcp_type {
            self.counters.dhcp_types[dhcp_index(dir, pxe, ty) as usize] += 1;
        }
        if pxe {
            let mut ev = DhcpEvent::zeroed();
            if fill_dhcp_event(frame, loc, c.class, pxe, &mut ev) {
                self.events.push((dir, ev));
            }
        }
        if !self.pxe_xids.contains(&loc.xid) && loc.starts_pxe_transaction() {
            self.pxe_xids.insert(loc.xid);
        }
    }
}
