//! Counter values of one interface, laid out like the kernel maps.

use monitor_common::{
    Direction, Traffic, classify,
    counters::maps::{self, dhcp_index, parse_error_index, traffic_index},
};

/// Counter values of one interface, indexed as in
/// `monitor_common::counters::maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub traffic: Vec<Traffic>,
    pub dhcp_types: Vec<u64>,
    pub parse_errors: Vec<u64>,
}

impl Default for Counters {
    /// All counters present and zero.
    fn default() -> Self {
        Counters {
            traffic: vec![Traffic::default(); maps::TRAFFIC_LEN as usize],
            dhcp_types: vec![0; maps::DHCP_TYPES_LEN as usize],
            parse_errors: vec![0; maps::PARSE_ERRORS_LEN as usize],
        }
    }
}

impl Counters {
    /// Counts one frame exactly as the kernel programs do, with the same
    /// shared classifier: used to read capture files and to check the
    /// kernel against the host.
    pub fn observe(&mut self, frame: &[u8], dir: Direction) {
        let c = classify(frame);
        let t = &mut self.traffic[traffic_index(dir, c.class) as usize];
        t.packets += 1;
        t.bytes += frame.len() as u64;
        if let Some(ty) = c.dhcp_type {
            self.dhcp_types[dhcp_index(dir, ty) as usize] += 1;
        }
        if let Some(e) = c.error {
            self.parse_errors[parse_error_index(dir, e) as usize] += 1;
        }
    }

    pub fn packets(&self, dir: Direction, class: monitor_common::Class) -> u64 {
        self.traffic[traffic_index(dir, class) as usize].packets
    }

    pub fn dhcp(&self, dir: Direction, ty: monitor_common::DhcpType) -> u64 {
        self.dhcp_types[dhcp_index(dir, ty) as usize]
    }

    pub fn parse_error(&self, dir: Direction, e: monitor_common::ParseError) -> u64 {
        self.parse_errors[parse_error_index(dir, e) as usize]
    }
}
