//! Planted traffic for the storm and flood checks: thousands of PXE clients
//! synthesised at packet level, each with a distinct MAC, xid and address
//! and the evidence of a planted outcome (booted, PXE-E53, PXE-E3B,
//! PXE-E32, PXE-E55), and a DHCP flood of forged clients (random MACs and
//! xids, one DISCOVER each) with real boots in it. Every frame comes from
//! one side of the watched link, as a capture or a veth would carry them;
//! nothing here sends anything.

use super::frames::{self, SERVER_MAC};

/// The DHCP/TFTP server of the planted traffic.
pub const SERVER_IP: [u8; 4] = [10, 100, 0, 1];
const BCAST: [u8; 4] = [255; 4];
const ANY: [u8; 4] = [0; 4];
const PXE_VENDOR: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";

/// What a planted client's evidence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// DORA with a boot file, then the file in two blocks: booted.
    Booted,
    /// DORA without a boot file: PXE-E53.
    NoBootFile,
    /// The TFTP server answers ERROR 1: PXE-E3B.
    FileMissing,
    /// The TFTP server's host answers ICMP port unreachable: PXE-E32.
    NoTftpServer,
    /// The DHCP server sends option 60 PXEClient, nothing answers on 4011
    /// (ICMP port unreachable): PXE-E55.
    Kb259670,
}

impl Plant {
    /// The outcome and code `replay --format json` and `/api/sessions`
    /// must give.
    pub fn expected(self) -> (&'static str, Option<&'static str>) {
        match self {
            Plant::Booted => ("booted", None),
            Plant::NoBootFile => ("failed", Some("PXE-E53")),
            Plant::FileMissing => ("failed", Some("PXE-E3B")),
            Plant::NoTftpServer => ("failed", Some("PXE-E32")),
            Plant::Kb259670 => ("failed", Some("PXE-E55")),
        }
    }

    /// The storm's mix: 6 in 10 boot, one in 10 of each failure.
    pub fn of(i: u32) -> Plant {
        match i % 10 {
            0 => Plant::NoBootFile,
            1 => Plant::FileMissing,
            2 => Plant::NoTftpServer,
            3 => Plant::Kb259670,
            _ => Plant::Booted,
        }
    }
}

/// One planted client: its MAC, what it must be judged, and its frames
/// (ns from its first, bytes).
pub struct Client {
    pub mac: [u8; 6],
    pub plant: Plant,
    pub frames: Vec<(u64, Vec<u8>)>,
}

pub fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// Client `i` (at most 65,000 per run: its address is 10.100.x.y) with the
/// evidence of `plant`.
pub fn client(i: u32, plant: Plant) -> Client {
    let [_, a, b, c] = (i + 1).to_be_bytes();
    let mac = [0x02, 0x5e, 0, a, b, c];
    let [_, _, hi, lo] = (i + 2).to_be_bytes();
    let ip = [10, 100, hi, lo];
    let xid = 0x5e00_0000 | i;
    let file: &[u8] = match plant {
        Plant::FileMissing => b"missing.ipxe",
        _ => b"boot.ipxe",
    };
    let arch: &[u8] = &[0, 0];
    let discover = frames::dhcp(1, 1, xid, mac, ANY, ANY, &[(60, PXE_VENDOR), (93, arch)]);
    let (reply_opts, siaddr): (Vec<(u8, &[u8])>, [u8; 4]) = match plant {
        Plant::NoBootFile => (vec![(54, &SERVER_IP)], ANY),
        Plant::Kb259670 => (vec![(54, &SERVER_IP), (60, b"PXEClient")], ANY),
        _ => (vec![(54, &SERVER_IP), (67, file)], SERVER_IP),
    };
    let offer = frames::dhcp(2, 2, xid, mac, ip, siaddr, &reply_opts);
    let request = frames::dhcp(
        1,
        3,
        xid,
        mac,
        ANY,
        ANY,
        &[(60, PXE_VENDOR), (93, arch), (54, &SERVER_IP), (50, &ip)],
    );
    let ack = frames::dhcp(2, 5, xid, mac, ip, siaddr, &reply_opts);
    let to_server = |p: &[u8]| frames::udp(mac, [0xff; 6], (ANY, 68), (BCAST, 67), p);
    let to_client = |p: &[u8]| frames::udp(SERVER_MAC, [0xff; 6], (SERVER_IP, 67), (BCAST, 68), p);
    let mut f = vec![
        to_server(&discover),
        to_client(&offer),
        to_server(&request),
        to_client(&ack),
    ];
    // Linux's ephemeral ports (32768-60999), as a TFTP client and server
    // pick them: never 67, 68, 69 or 4011, which classify by port.
    let port = 32_768 + (i % 28_000) as u16;
    let server_port = 61_000 - 1 - (i % 28_000) as u16;
    let from_client = |src_port, dst_port, p: &[u8]| {
        frames::udp(mac, SERVER_MAC, (ip, src_port), (SERVER_IP, dst_port), p)
    };
    let from_server =
        |src_port, p: &[u8]| frames::udp(SERVER_MAC, mac, (SERVER_IP, src_port), (ip, port), p);
    match plant {
        Plant::Booted => {
            f.push(from_client(port, 69, &frames::rrq(file)));
            f.push(from_server(
                server_port,
                &frames::tftp_data(1, &[0xa5; 512]),
            ));
            f.push(from_client(port, server_port, &frames::tftp_ack(1)));
            f.push(from_server(
                server_port,
                &frames::tftp_data(2, &[0x5a; 100]),
            ));
            f.push(from_client(port, server_port, &frames::tftp_ack(2)));
        }
        Plant::NoBootFile => {}
        Plant::FileMissing => {
            f.push(from_client(port, 69, &frames::rrq(file)));
            f.push(from_server(
                server_port,
                &frames::tftp_error(1, b"File not found"),
            ));
        }
        Plant::NoTftpServer => {
            f.push(from_client(port, 69, &frames::rrq(file)));
            f.push(frames::icmp_port_unreachable(
                SERVER_MAC,
                mac,
                SERVER_IP,
                (ip, port),
                (SERVER_IP, 69),
            ));
        }
        Plant::Kb259670 => {
            let dhcp = frames::dhcp(1, 3, xid, mac, ip, ANY, &[(60, PXE_VENDOR), (93, arch)]);
            f.push(from_client(68, 4011, &dhcp));
            f.push(frames::icmp_port_unreachable(
                SERVER_MAC,
                mac,
                SERVER_IP,
                (ip, 68),
                (SERVER_IP, 4011),
            ));
        }
    }
    // 20 µs apart: a server on the same segment answers that fast.
    let frames = (0u64..).zip(f).map(|(k, b)| (k * 20_000, b)).collect();
    Client { mac, plant, frames }
}

/// `clients` planted clients starting evenly over `over_ns`, their frames
/// in time order: (ns from the first, bytes).
pub fn storm(clients: u32, over_ns: u64) -> (Vec<Client>, Vec<(u64, Vec<u8>)>) {
    let cs: Vec<Client> = (0..clients).map(|i| client(i, Plant::of(i))).collect();
    let step = over_ns / u64::from(clients.max(1));
    let mut all: Vec<(u64, Vec<u8>)> = cs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            let t0 = i as u64 * step;
            c.frames.iter().map(move |(t, b)| (t0 + t, b.clone()))
        })
        .collect();
    all.sort_by_key(|(t, _)| *t);
    let cs = cs
        .into_iter()
        .map(|c| Client {
            frames: Vec::new(),
            ..c
        })
        .collect();
    (cs, all)
}

/// A forged DISCOVER of a DHCP flood: a random (locally administered) MAC
/// and xid from `seed`, the PXE vendor class.
pub fn forged_discover(seed: u64) -> Vec<u8> {
    let r = splitmix(seed);
    let b = r.to_le_bytes();
    let mac = [0x06 | (b[0] & 0xf0), b[1], b[2], b[3], b[4], b[5]];
    let d = frames::dhcp(1, 1, (r >> 32) as u32, mac, ANY, ANY, &[(60, PXE_VENDOR)]);
    frames::udp(mac, [0xff; 6], (ANY, 68), (BCAST, 67), &d)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
