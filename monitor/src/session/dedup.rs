//! The same message seen twice (a router's two interfaces: the client's
//! broadcast and its relayed copy; a monitor on two hooks) counts once: a
//! fingerprint of the fields copies keep, one slot per fingerprint.

use std::hash::Hasher as _;

use monitor_common::event::dhcp_flags as f;

use crate::event::{Event, on_proxy_port};

/// How long a copy of the same message may trail it (a relay or a router
/// forwards within milliseconds; a client's retry comes seconds later).
const DUPLICATE_NS: u64 = 100_000_000;
/// Fingerprint slots (a power of two): a copy is recognised unless another
/// message took its slot in the meantime.
const SLOTS: usize = 256;

/// Fingerprints of the latest events and when they came.
#[derive(Debug)]
pub struct Recent(Box<[(u64, u64); SLOTS]>);

impl Default for Recent {
    fn default() -> Self {
        Recent(Box::new([(0, 0); SLOTS]))
    }
}

impl Recent {
    /// Whether `ev` is a copy of an event of the last moments; remembers it.
    pub fn duplicate(&mut self, ev: &Event, now_ns: u64) -> bool {
        // Never 0, the mark of an empty slot.
        let fp = fingerprint(ev) | 1;
        let slot = &mut self.0[(fp as usize) & (SLOTS - 1)];
        if slot.1 == fp && now_ns.saturating_sub(slot.0) <= DUPLICATE_NS {
            return true;
        }
        *slot = (now_ns, fp);
        false
    }
}

/// What identifies a message across the copies a relay or router makes
/// (they change addresses, ports, hops, giaddr; not these fields).
fn fingerprint(ev: &Event) -> u64 {
    let u32_of = |b: [u8; 4]| u64::from(u32::from_ne_bytes(b));
    let u16_of = |b: [u8; 2]| u64::from(u16::from_ne_bytes(b));
    let fold = |a: [u8; 16]| {
        let (hi, lo) = a.split_at(8);
        u64::from_ne_bytes(hi.try_into().unwrap_or([0; 8]))
            ^ u64::from_ne_bytes(lo.try_into().unwrap_or([0; 8])).rotate_left(32)
    };
    // The fields, packed into words (a word per write: this runs for every
    // event, replay included).
    let words: [u64; 4] = match ev {
        Event::Dhcp(e) => {
            let mut mac = [0u8; 8];
            mac[..6].copy_from_slice(&e.chaddr);
            [
                u32_of(e.xid)
                    | u64::from(e.message_type) << 32
                    | u64::from(e.op) << 40
                    | u64::from(e.flags & f::SERVER_ID != 0) << 48
                    | u64::from(on_proxy_port(e)) << 49,
                u64::from_ne_bytes(mac),
                u32_of(e.ciaddr) | u32_of(e.yiaddr) << 32,
                u32_of(e.server_id),
            ]
        }
        // Addresses of either family (16 bytes), each folded to a word.
        Event::Tftp(e) => [
            1 << 63 | u16_of(e.client_port) << 32 | u64::from(e.moment) << 48,
            u16_of(e.opcode) | u16_of(e.arg) << 16 | u64::from(e.payload_len) << 32,
            fold(e.client_ip) ^ u64::from(e.data_packets),
            fold(e.server_ip),
        ],
        Event::Http(e) => [
            1 << 61
                | u16_of(e.client_port) << 32
                | u64::from(e.moment) << 48
                | u64::from(e.from_server) << 56,
            fold(e.client_ip) ^ u16_of(e.server_port),
            fold(e.server_ip) ^ e.offset,
            u32_of(e.seq) | u64::from(e.syns) << 32,
        ],
        // A relayed message and the relay's copy of it carry the same
        // client's or server's message, byte for byte: its bytes, not what
        // was read from them (the walk over a relayed copy, deeper in the
        // frame, may stop before an option the direct one reaches: the
        // vendor class of EDK2's Request, measured through isc-dhcp-relay).
        Event::Dhcp6(e) => {
            let word =
                |at: usize| u64::from_ne_bytes(e.payload[at..at + 8].try_into().unwrap_or([0; 8]));
            [
                1 << 60 | u32_of(e.xid) | u64::from(e.inner_type) << 32,
                u64::from(e.msg_len),
                word(0),
                word(8) ^ word(16).rotate_left(32),
            ]
        }
        Event::Icmp(e) => [
            1 << 62 | fold(e.quoted_src) ^ u64::from(e.code) << 32,
            fold(e.quoted_dst),
            u16_of(e.quoted_src_port) | u16_of(e.quoted_dst_port) << 16,
            0,
        ],
    };
    let mut h = rustc_hash::FxHasher::default();
    for w in words {
        h.write_u64(w);
    }
    h.finish()
}
