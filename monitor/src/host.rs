//! The host's replica of the kernel programs: the same shared stages run on
//! each frame of a capture file (or a test), giving the same counters and
//! event records the kernel would.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use monitor_common::{
    Class, Direction, Frame, ParseError,
    counters::maps::{dhcp_index, icmp_index, parse_error_index, traffic_index},
    counters::maps::{tftp_error_index, tftp_opcode_index},
    event::{DhcpEvent, TftpEvent},
    flow::{TftpFlow, TftpFlows, TftpKey, observe_tftp, quotes_transfer},
    report::{fill_dhcp_event, fill_tftp_event, icmp_event},
    stage::{DhcpLocation, UdpAt},
    wire::{dhcp, tftp, udp},
};

use crate::{counters::Counters, event::Event};

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
    /// TFTP transfers being followed (the kernel's LRU map, unbounded here).
    pub tftp_flows: HostFlows,
    /// Client MACs of DHCP messages whose BOOTP header the capture cut short
    /// (a small snaplen; the kernel always sees whole frames), in the order
    /// of the frames: whether their exchange was a PXE one cannot be read.
    pub cut_short: Vec<[u8; 6]>,
}

/// The host's transfer table.
#[derive(Debug, Default)]
pub struct HostFlows {
    pub flows: HashMap<TftpKey, TftpFlow>,
    /// Transfers put in the table (the kernel's `TABLE_NEW`).
    pub new: u64,
}

impl TftpFlows for HostFlows {
    fn get_either(&mut self, first: &TftpKey, second: &TftpKey) -> Option<(bool, &mut TftpFlow)> {
        if self.flows.contains_key(first) {
            self.flows.get_mut(first).map(|f| (true, f))
        } else {
            self.flows.get_mut(second).map(|f| (false, f))
        }
    }

    fn insert(&mut self, key: &TftpKey, flow: &TftpFlow) {
        if self.flows.insert(*key, *flow).is_none() {
            self.new += 1;
        }
    }
}

impl HostObserver {
    /// [`observe_at`](Self::observe_at) with the clock at 0.
    pub fn observe(&mut self, frame: &[u8], dir: Direction) {
        self.observe_at(frame, dir, 0);
    }

    /// One frame seen at `now_ns` (for TFTP transfer times).
    pub fn observe_at(&mut self, frame: &[u8], dir: Direction, now_ns: u64) {
        use monitor_common::classify::{Next, classify_dhcp, classify_headers, classify_icmp};
        // The stages the kernel runs, each once.
        let (head, next) = classify_headers(frame);
        let c = match next {
            Some(Next::Dhcp(at)) => {
                let c = classify_dhcp(frame, head.class, at);
                if c.error == Some(ParseError::TruncatedBootp)
                    && let Some(mac) =
                        frame.array::<6>(usize::from(at.bootp_at) + dhcp::field::CHADDR)
                {
                    self.cut_short.push(*mac);
                }
                c
            }
            Some(Next::Icmp(at)) => classify_icmp(frame, at),
            Some(Next::Udp { at, .. }) => {
                self.observe_tftp(frame, dir, head.class, at, now_ns);
                head
            }
            None => head,
        };
        let t = &mut self.counters.traffic[traffic_index(dir, c.class) as usize];
        t.packets += 1;
        t.bytes += frame.len() as u64;
        if let Some(e) = c.error {
            self.counters.parse_errors[parse_error_index(dir, e) as usize] += 1;
        }
        if let Some(u) = &c.icmp {
            self.counters.icmp_unreachable[icmp_index(dir, u.quoted_class) as usize] += 1;
            let transfer = quotes_transfer(u, &mut self.tftp_flows);
            if transfer || u.quotes_pxe_port() {
                self.events
                    .push((dir, Event::Icmp(icmp_event(u, transfer))));
            }
        }
        let Some(loc) = &c.dhcp else { return };
        self.observe_dhcp(frame, dir, &c, loc);
    }

    fn observe_tftp(&mut self, frame: &[u8], dir: Direction, class: Class, at: UdpAt, now_ns: u64) {
        let observed = observe_tftp(frame, at, class, now_ns, &mut self.tftp_flows);
        self.counters.new_flows = self.tftp_flows.new;
        let seen = match observed {
            Ok(Some(seen)) => seen,
            Ok(None) => return,
            Err(e) => {
                self.counters.parse_errors[parse_error_index(dir, e) as usize] += 1;
                return;
            }
        };
        self.counters.tftp_opcodes[tftp_opcode_index(dir, seen.header.opcode) as usize] += 1;
        if seen.header.opcode == tftp::ERROR {
            self.counters.tftp_errors
                [tftp_error_index(dir, seen.from_server, seen.header.arg) as usize] += 1;
        }
        if seen.moment.is_some() {
            let mut ev = TftpEvent::zeroed();
            let payload_at = usize::from(at.udp_at) + udp::HEADER_LEN;
            fill_tftp_event(frame, &seen, payload_at, now_ns, &mut ev);
            self.events.push((dir, Event::Tftp(ev)));
        }
    }

    fn observe_dhcp(
        &mut self,
        frame: &[u8],
        dir: Direction,
        c: &monitor_common::Classification,
        loc: &DhcpLocation,
    ) {
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
            self.counters.new_xids += 1;
        }
    }
}
