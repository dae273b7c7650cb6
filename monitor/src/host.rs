//! The host's replica of the kernel programs: the same shared stages run on
//! each frame of a capture file (or a test), giving the same counters and
//! event records the kernel would.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use monitor_common::{
    Class, Direction, Frame, ParseError,
    conn::{
        BootClient, BootClients, ConnFamilyKey, ConnKey, ConnKey6, HttpConn, HttpConns, HttpSeen,
        WebPorts, learn_client, learn_client6,
    },
    counters::Family,
    counters::WebSegment,
    counters::maps::{dhcp_index, dhcp6_index, icmp_index, parse_error_index, traffic_index},
    counters::maps::{tftp_error_index, tftp_opcode_index, web_bytes_index, web_segment_index},
    event::{Dhcp6Event, DhcpEvent, HttpEvent, TftpEvent},
    flow::{
        Address, FamilyKey, TftpFlow, TftpFlows, TftpKey, TftpSeen, observe_tftp, quotes_transfer,
    },
    report::{fill_dhcp_event, fill_dhcp6_event, fill_http_event, fill_tftp_event, icmp_event},
    stage::{DhcpLocation, TcpAt, UdpAt},
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
    /// DHCPv6 transaction ids of exchanges boot clients started (the
    /// kernel's LRU map; unbounded here).
    pub pxe6_xids: HashSet<u32>,
    /// Events in the order of the frames.
    pub events: Vec<(Direction, Event)>,
    /// TFTP transfers being followed (the kernel's slots and LRU map,
    /// unbounded here), over IPv4 and over IPv6.
    pub tftp_flows: HostFlows,
    pub tftp_flows6: HostFlows<[u8; 16]>,
    /// Client MACs of DHCP messages whose BOOTP header the capture cut short
    /// (a small snaplen; the kernel always sees whole frames), in the order
    /// of the frames: whether their exchange was a PXE one cannot be read.
    pub cut_short: Vec<[u8; 6]>,
    /// Boot clients and their web connections (the kernel's LRU maps,
    /// unbounded here), over IPv4 and over IPv6.
    pub web: HostWeb,
    pub web6: HostWeb<[u8; 16]>,
    /// The web ports followed beyond 80, 8080 and 443.
    pub web_ports: WebPorts,
}

/// The host's boot client and web connection tables of one family.
#[derive(Debug)]
pub struct HostWeb<A: Address = [u8; 4]> {
    pub clients: HashMap<A, BootClient>,
    pub conns: HashMap<ConnKey<A>, HttpConn>,
    /// Entries put in each (the kernel's `TABLE_NEW`).
    pub new_clients: u64,
    pub new_conns: u64,
}

impl<A: Address> Default for HostWeb<A> {
    fn default() -> Self {
        HostWeb {
            clients: HashMap::default(),
            conns: HashMap::default(),
            new_clients: 0,
            new_conns: 0,
        }
    }
}

impl<A: Address> BootClients<A> for HostWeb<A> {
    fn get(&mut self, ip: &A) -> Option<BootClient> {
        self.clients.get(ip).copied()
    }

    fn learn(&mut self, ip: &A, client: &BootClient) {
        if self.clients.insert(*ip, *client).is_none() {
            self.new_clients += 1;
        }
    }
}

/// The connection half of [`HostWeb`], borrowed apart from the clients.
struct HostConns<'a, A> {
    conns: &'a mut HashMap<ConnKey<A>, HttpConn>,
    new: &'a mut u64,
}

impl<A: Address> HttpConns<A> for HostConns<'_, A> {
    fn get(&mut self, key: &ConnKey<A>) -> Option<&mut HttpConn> {
        self.conns.get_mut(key)
    }

    fn insert(&mut self, key: &ConnKey<A>, conn: &HttpConn) {
        self.conns.insert(*key, *conn);
        *self.new += 1;
    }
}

/// The clients half of [`HostWeb`].
struct HostClients<'a, A>(&'a HashMap<A, BootClient>);

impl<A: Address> BootClients<A> for HostClients<'_, A> {
    fn get(&mut self, ip: &A) -> Option<BootClient> {
        self.0.get(ip).copied()
    }

    fn learn(&mut self, _: &A, _: &BootClient) {}
}

/// The host's transfer table of one family.
#[derive(Debug, Default)]
pub struct HostFlows<A: Address = [u8; 4]> {
    pub flows: HashMap<TftpKey<A>, TftpFlow>,
    /// Transfers put in the table (the kernel's `TABLE_NEW`).
    pub new: u64,
}

impl<A: Address> TftpFlows<A> for HostFlows<A> {
    fn get_either(
        &mut self,
        first: &TftpKey<A>,
        second: &TftpKey<A>,
    ) -> Option<(bool, &mut TftpFlow)> {
        if self.flows.contains_key(first) {
            self.flows.get_mut(first).map(|f| (true, f))
        } else {
            self.flows.get_mut(second).map(|f| (false, f))
        }
    }

    fn insert(&mut self, key: &TftpKey<A>, flow: &TftpFlow) {
        if self.flows.insert(*key, *flow).is_none() {
            self.new += 1;
        }
    }
}

/// The web stage on one family's tables, as the kernel's runs.
fn observe_http<A: Address>(
    frame: &[u8],
    at: TcpAt,
    now_ns: u64,
    web: &mut HostWeb<A>,
) -> Result<Option<HttpSeen<A>>, ParseError> {
    let HostWeb {
        clients,
        conns,
        new_conns,
        ..
    } = web;
    monitor_common::conn::observe_http(
        frame,
        at,
        now_ns,
        &mut HostClients(clients),
        &mut HostConns {
            conns,
            new: new_conns,
        },
    )
}

impl HostObserver {
    /// Where the transfer tables say a transfer stands.
    pub fn tftp_flow(&self, key: &FamilyKey) -> Option<TftpFlow> {
        match key {
            FamilyKey::V4(k) => self.tftp_flows.flows.get(k),
            FamilyKey::V6(k) => self.tftp_flows6.flows.get(k),
        }
        .copied()
    }

    /// Where the connection tables say a web connection stands (the key
    /// in the events' form).
    pub fn http_conn(&self, key: &ConnKey6) -> Option<HttpConn> {
        match ConnFamilyKey::of(key) {
            ConnFamilyKey::V4(k) => self.web.conns.get(&k),
            ConnFamilyKey::V6(k) => self.web6.conns.get(&k),
        }
        .copied()
    }

    /// [`observe_at`](Self::observe_at) with the clock at 0.
    pub fn observe(&mut self, frame: &[u8], dir: Direction) {
        self.observe_at(frame, dir, 0);
    }

    /// One frame seen at `now_ns` (for TFTP transfer times).
    pub fn observe_at(&mut self, frame: &[u8], dir: Direction, now_ns: u64) {
        use monitor_common::classify::{
            Next, classify_dhcp, classify_dhcp6, classify_headers_with, classify_icmp,
        };
        // The stages the kernel runs, each once.
        let (head, next) = classify_headers_with(frame, &self.web_ports);
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
            Some(Next::Tcp(at)) if at.v6 => {
                let observed = observe_http(frame, at, now_ns, &mut self.web6);
                self.counters.new_conns6 = self.web6.new_conns;
                self.http_seen(frame, dir, at, now_ns, observed);
                head
            }
            Some(Next::Tcp(at)) => {
                let observed = observe_http(frame, at, now_ns, &mut self.web);
                self.counters.new_conns = self.web.new_conns;
                self.http_seen(frame, dir, at, now_ns, observed);
                head
            }
            Some(Next::Dhcp6(at)) => {
                let c = classify_dhcp6(frame, head.class, at);
                self.observe_dhcp6(frame, dir, &c, now_ns);
                c
            }
            None => head,
        };
        let t = &mut self.counters.traffic[traffic_index(dir, c.class) as usize];
        t.packets += 1;
        t.bytes += frame.len() as u64;
        if let Some(e) = c.error {
            self.counters.parse_errors[parse_error_index(dir, e) as usize] += 1;
        }
        if let Some(u) = &c.icmp6 {
            self.counters.icmp_unreachable[icmp_index(dir, u.quoted_class) as usize] += 1;
            let transfer = quotes_transfer(u, &mut self.tftp_flows6);
            if transfer || u.quotes_pxe_port() {
                self.events
                    .push((dir, Event::Icmp(icmp_event(u, transfer))));
            }
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
        self.observe_dhcp(frame, dir, &c, loc, now_ns);
    }

    /// What the kernel's DHCPv6 stage counts.
    fn observe_dhcp6(
        &mut self,
        frame: &[u8],
        dir: Direction,
        c: &monitor_common::Classification,
        now_ns: u64,
    ) {
        let Some(ty) = c.dhcp6_type else { return };
        let Some(loc) = &c.dhcp6 else {
            self.counters.dhcp6_types[dhcp6_index(dir, false, ty) as usize] += 1;
            return;
        };
        let known = self.pxe6_xids.contains(&loc.xid);
        let pxe = loc.is_pxe(c.class, known);
        self.counters.dhcp6_types[dhcp6_index(dir, pxe, ty) as usize] += 1;
        if pxe {
            let mut ev = Dhcp6Event::zeroed();
            if fill_dhcp6_event(frame, loc, c.class, pxe, &mut ev).is_some() {
                self.events.push((dir, Event::Dhcp6(ev)));
            }
        }
        learn_client6(frame, loc, pxe, now_ns, &mut self.web6);
        self.counters.new_clients6 = self.web6.new_clients;
        if !known && loc.starts_pxe_transaction() {
            self.pxe6_xids.insert(loc.xid);
            self.counters.new_xids6 += 1;
        }
    }

    /// Counts and records what the web stage of the segment's family saw.
    fn http_seen<A: Address>(
        &mut self,
        frame: &[u8],
        dir: Direction,
        at: TcpAt,
        now_ns: u64,
        observed: Result<Option<HttpSeen<A>>, ParseError>,
    ) {
        let Some(seen) = self.counted(dir, observed) else {
            return;
        };
        let kind = WebSegment::of(seen.flags, seen.payload_len);
        self.counters.web_segments[web_segment_index(dir, at.web, kind) as usize] += 1;
        self.counters.web_bytes[web_bytes_index(dir, at.web) as usize] +=
            u64::from(seen.payload_len);
        if seen.moment.is_some() {
            let mut ev = HttpEvent::zeroed();
            fill_http_event(frame, &seen, now_ns, &mut ev);
            self.events.push((dir, Event::Http(ev)));
        }
    }

    /// What a stage two saw of a frame, its parse error counted as the
    /// kernel's stage does.
    fn counted<T>(&mut self, dir: Direction, observed: Result<Option<T>, ParseError>) -> Option<T> {
        observed.unwrap_or_else(|e| {
            self.counters.parse_errors[parse_error_index(dir, e) as usize] += 1;
            None
        })
    }

    /// What the kernel's TFTP stage of the datagram's family does.
    fn observe_tftp(&mut self, frame: &[u8], dir: Direction, class: Class, at: UdpAt, now_ns: u64) {
        if class.family() == Family::Ipv6 {
            let observed = observe_tftp(frame, at, class, now_ns, &mut self.tftp_flows6);
            self.counters.new_flows6 = self.tftp_flows6.new;
            self.tftp_seen(frame, dir, at, now_ns, observed);
        } else {
            let observed = observe_tftp(frame, at, class, now_ns, &mut self.tftp_flows);
            self.counters.new_flows = self.tftp_flows.new;
            self.tftp_seen(frame, dir, at, now_ns, observed);
        }
    }

    fn tftp_seen<A: Address>(
        &mut self,
        frame: &[u8],
        dir: Direction,
        at: UdpAt,
        now_ns: u64,
        observed: Result<Option<TftpSeen<A>>, ParseError>,
    ) {
        let Some(seen) = self.counted(dir, observed) else {
            return;
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
        now_ns: u64,
    ) {
        let pxe = loc.is_pxe(c.class, self.pxe_xids.contains(&loc.xid));
        if let Some(ty) = c.dhcp_type {
            self.counters.dhcp_types[dhcp_index(dir, pxe, ty) as usize] += 1;
        }
        learn_client(frame, loc, c.dhcp_type, pxe, now_ns, &mut self.web);
        self.counters.new_clients = self.web.new_clients;
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
