//! Test frames for the unit tests: a builder of Ethernet/VLAN/IPv4/UDP/
//! BOOTP frames (test builds only).

use crate::{classify::Classification, classify::classify, wire::dhcp};

/// Builds frames layer by layer: Ethernet, VLAN tags, IPv4 (with
/// options), UDP, BOOTP with DHCP options. Lengths are filled in.
pub struct Builder {
    pub tags: &'static [u16],
    pub ip_options: &'static [u8],
    pub protocol: u8,
    pub frag: u16,
    pub ports: (u16, u16),
    /// DHCP options after the magic cookie; `None` for no BOOTP at all.
    pub dhcp: Option<&'static [u8]>,
}

const UDP: u8 = 17;

impl Builder {
    pub fn dhcp(options: &'static [u8]) -> Self {
        Builder {
            tags: &[],
            ip_options: &[],
            protocol: UDP,
            frag: 0,
            ports: (68, 67),
            dhcp: Some(options),
        }
    }

    pub fn build(&self) -> [u8; 1024] {
        let mut f = [0u8; 1024];
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[0x52, 0x54, 0, 0x77, 0, 0x10]);
        let mut at = 12;
        for (i, vid) in self.tags.iter().enumerate() {
            let tpid: u16 = if i == 0 && self.tags.len() == 2 {
                0x88a8
            } else {
                0x8100
            };
            f[at..at + 2].copy_from_slice(&tpid.to_be_bytes());
            f[at + 2..at + 4].copy_from_slice(&vid.to_be_bytes());
            at += 4;
        }
        f[at..at + 2].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = at + 2;
        let ihl = 20 + self.ip_options.len();
        let mut udp_payload = 0;
        if let Some(opts) = self.dhcp {
            udp_payload = 240 + opts.len();
        }
        let total = ihl + 8 + udp_payload;
        f[ip] = 0x40 | (ihl / 4) as u8;
        f[ip + 2..ip + 4].copy_from_slice(&(total as u16).to_be_bytes());
        f[ip + 6..ip + 8].copy_from_slice(&self.frag.to_be_bytes());
        f[ip + 8] = 64;
        f[ip + 9] = self.protocol;
        f[ip + 16..ip + 20].copy_from_slice(&[255; 4]);
        f[ip + 20..ip + ihl].copy_from_slice(self.ip_options);
        let udp = ip + ihl;
        f[udp..udp + 2].copy_from_slice(&self.ports.0.to_be_bytes());
        f[udp + 2..udp + 4].copy_from_slice(&self.ports.1.to_be_bytes());
        f[udp + 4..udp + 6].copy_from_slice(&((8 + udp_payload) as u16).to_be_bytes());
        if let Some(opts) = self.dhcp {
            let b = udp + 8;
            f[b] = 1;
            f[b + 1] = 1;
            f[b + 2] = 6;
            f[b + 4..b + 8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
            f[b + 28..b + 34].copy_from_slice(&[0x52, 0x54, 0, 0x77, 0, 0x10]);
            f[b + 236..b + 240].copy_from_slice(&dhcp::MAGIC_COOKIE);
            f[b + 240..b + 240 + opts.len()].copy_from_slice(opts);
        }
        f
    }

    /// The frame cut to its real length.
    pub fn frame(&self) -> ([u8; 1024], usize) {
        let f = self.build();
        let mut len = 14 + 4 * self.tags.len() + 20 + self.ip_options.len() + 8;
        if let Some(o) = self.dhcp {
            len += 240 + o.len();
        }
        (f, len)
    }
}

pub fn classify_built(b: &Builder) -> Classification {
    let (f, len) = b.frame();
    classify(&f[..len])
}
