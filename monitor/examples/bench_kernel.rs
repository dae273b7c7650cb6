//! `cargo xtask bench kernel`: ns per frame of the real programs under
//! BPF_PROG_TEST_RUN, each next to a bare program of its hook measured in
//! the same run (TC ingress against a bare TC program, XDP against a bare
//! XDP_PASS). Needs root and the fixture captures (path as the first
//! argument).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use aya::{
    maps::RingBuf,
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use monitor::{
    capture, kernel,
    testing::frames::{SERVER_MAC, tcp},
};
use monitor_common::{
    Class, DhcpType, classify,
    counters::maps::EVENTS,
    wire::tcp::flags::{ACK, SYN},
};

const REPEAT: u32 = 200_000;
const ROUNDS: usize = 25;

fn main() -> Result<()> {
    let fixtures = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: bench_kernel FIXTURES_DIR")?,
    );
    let frame = |file: &str, pick: &dyn Fn(&[u8]) -> bool| -> Result<Vec<u8>> {
        let path = fixtures.join(file);
        capture::read_file(&path)?
            .into_iter()
            .map(|p| p.data)
            .find(|d| pick(d))
            .with_context(|| format!("no such frame in {}", path.display()))
    };
    let nth = |file: &str, i: usize| -> Result<Vec<u8>> {
        let path = fixtures.join(file);
        let mut p = capture::read_file(&path)?;
        if i >= p.len() {
            bail!("{} has no frame {i}", path.display());
        }
        Ok(p.swap_remove(i).data)
    };
    let dhcp = |ty: DhcpType, class: Class| {
        move |d: &[u8]| {
            let c = classify(d);
            c.class == class && c.dhcp_type == Some(ty)
        }
    };
    let tcp_segment = frame("peer-pcaps/mercury/emix.pcap", &|d| {
        d.len() >= 1400 && d[12..14] == [0x08, 0x00] && d[23] == 6
    })?;
    // The same segment to port 80, from an address no PXE ACK named.
    let mut to_web_port = tcp_segment.clone();
    let tcp_at = 14 + usize::from(to_web_port[14] & 0x0f) * 4;
    to_web_port[tcp_at + 2..tcp_at + 4].copy_from_slice(&80u16.to_be_bytes());
    // A boot client (the healthy lab boot's: its DISCOVER and ACK, run
    // once before the rows) and its connection to the web server (SYN,
    // SYN-ACK); the row is a full-size segment of the server's body.
    let healthy = "lab-pcaps/a-healthy-dnsmasq.pcap";
    let (client_mac, client, server) = (
        [0x52, 0x54, 0, 0x77, 0, 0x10],
        [10, 77, 10, 115],
        [10, 77, 10, 1],
    );
    let (c, srv) = ((client, 49152), (server, 80));
    let setup = vec![
        frame(healthy, &dhcp(DhcpType::DISCOVER, Class::DhcpServer))?,
        frame(healthy, &dhcp(DhcpType::ACK, Class::DhcpClient))?,
        tcp(client_mac, SERVER_MAC, c, srv, 1000, SYN, &[], &[]),
        tcp(SERVER_MAC, client_mac, srv, c, 5000, SYN | ACK, &[], &[]),
    ];
    let body = tcp(
        SERVER_MAC,
        client_mac,
        srv,
        c,
        5001,
        ACK,
        &[],
        &[0x5a; 1448],
    );
    // The TCP segment's Ethernet header, an IPv6 header, its TCP header
    // and payload.
    let tcp6_segment = {
        let mut f = tcp_segment[..12].to_vec();
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&((tcp_segment.len() - tcp_at) as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&[0xfd; 32]);
        f.extend_from_slice(&tcp_segment[tcp_at..]);
        f
    };
    // EDK2's Solicit as measured in the lab: client id (DUID-LLT), IA_NA,
    // option request, elapsed time, vendor class, architecture, UNDI.
    let solicit6 = {
        use monitor::testing::frames::{dhcpv6, pxe_vendor_class6, udp6};
        let duid = [
            0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
        ];
        let vendor = pxe_vendor_class6(b"PXEClient:Arch:00007:UNDI:003000");
        let m = dhcpv6(
            1,
            0xabcdef,
            &[
                (1, &duid),
                (3, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
                (6, &[0, 59, 0, 60, 0, 23, 0, 24]),
                (8, &[0, 0]),
                (16, &vendor),
                (61, &[0, 7]),
                (62, &[1, 3, 0]),
            ],
        );
        let mut src = [0u8; 16];
        src[..2].copy_from_slice(&[0xfe, 0x80]);
        let mut dst = [0u8; 16];
        dst[..2].copy_from_slice(&[0xff, 0x02]);
        dst[13..].copy_from_slice(&[1, 0, 2]);
        udp6(
            [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            [0x33, 0x33, 0, 1, 0, 2],
            (src, 546),
            (dst, 547),
            &[],
            &m,
        )
    };
    // TFTP over IPv6 as OVMF's PXEv6 asks (tsize, blksize 1468,
    // windowsize 4), then a full block of that transfer from the server's
    // port.
    let (rrq6, data6) = {
        use monitor::testing::frames::{SERVER_MAC, tftp_data, udp6};
        let (cmac, mut client, mut server) =
            ([0x52, 0x54, 0, 0x12, 0x34, 0x56], [0u8; 16], [0u8; 16]);
        client[..4].copy_from_slice(&[0xfd, 0x77, 0, 0x10]);
        server[..4].copy_from_slice(&[0xfd, 0x77, 0, 0x10]);
        (client[14], client[15], server[15]) = (1, 0xc5, 1);
        let mut rrq = monitor::testing::frames::rrq(b"tiny.efi");
        rrq.extend_from_slice(b"tsize\x000\x00blksize\x001468\x00windowsize\x004\x00");
        (
            udp6(cmac, SERVER_MAC, (client, 1500), (server, 69), &[], &rrq),
            udp6(
                SERVER_MAC,
                cmac,
                (server, 40000),
                (client, 1500),
                &[],
                &tftp_data(1, &[0xaa; 1468]),
            ),
        )
    };
    // UEFI HTTP Boot over IPv6: the DHCPv6 Request and Reply (HTTPClient,
    // the address in IA_NA) and the connection's SYN and SYN-ACK run once
    // before the rows; the row is a full-size segment of the server's
    // body, beside the TCP-over-IPv6 row sent to port 80 by a stranger.
    let (setup6, body6, to_web_port6) = {
        use monitor::testing::frames::{dhcpv6, dhcpv6_exchange, pxe_vendor_class6, tcp6};
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        let (cmac, client, server) = (
            [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            v6("fd77:10::1c5"),
            v6("fd77:10::1"),
        );
        let duid = [
            0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
        ];
        let vendor = pxe_vendor_class6(b"HTTPClient:Arch:00016:UNDI:003000");
        let mut ia_na = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 24];
        ia_na.extend_from_slice(&client);
        ia_na.extend_from_slice(&[0; 8]);
        let link_local = v6("fe80::5054:ff:fe12:3456");
        let request = dhcpv6(3, 0x4242, &[(1, &duid), (3, &ia_na), (16, &vendor)]);
        let reply = dhcpv6(7, 0x4242, &[(1, &duid), (3, &ia_na), (16, &vendor)]);
        let (c, srv) = ((client, 49152), (server, 80));
        let [request, reply] = dhcpv6_exchange(cmac, link_local, server, (&request, &reply));
        let setup = vec![
            request,
            reply,
            tcp6(cmac, SERVER_MAC, c, srv, &[], 1000, SYN, &[]),
            tcp6(SERVER_MAC, cmac, srv, c, &[], 5000, SYN | ACK, &[]),
        ];
        let body = tcp6(SERVER_MAC, cmac, srv, c, &[], 5001, ACK, &[0x5a; 1448]);
        let mut stranger = tcp6_segment.clone();
        stranger[54 + 2..54 + 4].copy_from_slice(&80u16.to_be_bytes());
        (setup, body, stranger)
    };
    let setup: Vec<Vec<u8>> = setup.into_iter().chain(setup6).collect();
    let ra = frame("lab-pcaps/a-healthy-dnsmasq.pcap", &|d| {
        d[12..14] == [0x86, 0xdd]
    })?;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("TCP segment (full size, not PXE)", tcp_segment),
        ("TCP to port 80, not a boot client (full size)", to_web_port),
        // The same segment again and again: after the first, the resent
        // path (its bytes are counted once), as costly as new data.
        ("HTTP body segment of a boot client (full size)", body),
        ("IPv6 RA (ICMPv6, not PXE)", ra.clone()),
        ("TCP over IPv6 (full size, not PXE)", tcp6_segment),
        (
            "TCP over IPv6 to port 80, not a boot client (full size)",
            to_web_port6,
        ),
        (
            "HTTP body segment over IPv6 of a boot client (full size)",
            body6,
        ),
        (
            "non-IP frame (ARP)",
            frame("peer-pcaps/mercury/emix.pcap", &|d| {
                d[12..14] == [0x08, 0x06]
            })?,
        ),
        ("DHCPv6 Solicit (PXE client, EDK2's options)", solicit6),
        (
            "non-PXE UDP (TFTP DATA, untracked)",
            frame("lab-pcaps/l2-tftp-clients.pcap", &|d| {
                classify(d).class == Class::OtherUdp
            })?,
        ),
        (
            "DHCP DISCOVER (PXE client)",
            frame(
                "peer-pcaps/netboot/pcap/nsec.pcap",
                &dhcp(DhcpType::DISCOVER, Class::DhcpServer),
            )?,
        ),
        (
            "DHCP OFFER",
            frame(
                "peer-pcaps/netboot/pcap/nsec.pcap",
                &dhcp(DhcpType::OFFER, Class::DhcpClient),
            )?,
        ),
        (
            "4011 REQUEST",
            frame(
                "peer-pcaps/netboot/pcap/nsec.pcap",
                &dhcp(DhcpType::REQUEST, Class::ProxyDhcp),
            )?,
        ),
        (
            "TFTP RRQ (tftp-hpa, blob.bin)",
            nth("lab-pcaps/l2-tftp-clients.pcap", 0)?,
        ),
        // Measured after the RRQ above, which starts this transfer: a full
        // 512-byte DATA block of it (frame 4 of the capture, server port
        // 56723 -> client 48565), the path every block but the last takes.
        (
            "TFTP DATA, full block of a tracked transfer",
            nth("lab-pcaps/l2-tftp-clients.pcap", 3)?,
        ),
        ("TFTP RRQ over IPv6 (EDK2's options)", rrq6),
        // After the request above, which starts the transfer.
        (
            "TFTP DATA over IPv6, full block of a tracked transfer",
            data6,
        ),
    ];

    // A ring buffer that holds a whole run's events (up to 272 bytes each), drained
    // after every run: the normal path is measured, not the "full" one.
    let sizes = kernel::MapSizes {
        ring_bytes: 512 << 20,
        ..Default::default()
    };
    // One round: a run of `repeat` frames, the mean ns per frame; what each
    // program returns when it passes the frame is XDP_PASS or TC_ACT_OK.
    let once = |ebpf: &mut aya::Ebpf, name: &str, frame: &[u8]| -> Result<f64> {
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat: REPEAT,
            ..Default::default()
        };
        let prog = ebpf.program(name).context("program missing")?;
        let (r, pass) = match prog {
            aya::programs::Program::Xdp(_) => {
                let p: &Xdp = prog.try_into()?;
                (p.test_run(opts)?, 2)
            }
            _ => {
                let p: &SchedClassifier = prog.try_into()?;
                (p.test_run(opts)?, 0)
            }
        };
        if r.return_value != pass {
            bail!("{name} returned {} instead of passing", r.return_value);
        }
        let mut ring = RingBuf::try_from(ebpf.map_mut(EVENTS).context("EVENTS map")?)?;
        while ring.next().is_some() {}
        // The kernel reports the mean duration of one run, in ns.
        Ok(r.duration.as_nanos() as f64)
    };
    // The bare program and ours alternate, round after round, so that a
    // disturbance of the machine hits both; the best round of each is the
    // least disturbed.
    let pair = |ebpf: &mut aya::Ebpf, bare: &str, ours: &str, frame: &[u8]| -> Result<(f64, f64)> {
        let (mut b, mut o) = (f64::MAX, f64::MAX);
        for _ in 0..ROUNDS {
            b = b.min(once(ebpf, bare, frame)?);
            o = o.min(once(ebpf, ours, frame)?);
        }
        Ok((b, o))
    };
    // `PXE_BENCH_ONLY=text`: only the rows whose frame name holds `text`.
    let only = std::env::var("PXE_BENCH_ONLY").unwrap_or_default();
    println!(
        "BPF_PROG_TEST_RUN, repeat {REPEAT}, best of {ROUNDS} rounds (bare and ours alternating), \
         ns per frame (harness included); the event ring buffer holds a whole run and is drained after each"
    );
    for (hook, bare, ours) in [
        (
            "TC ingress (the default)",
            kernel::BARE_TC_PROGRAM,
            kernel::TC_INGRESS_PROGRAM,
        ),
        ("XDP", kernel::BARE_XDP_PROGRAM, kernel::XDP_PROGRAM),
    ] {
        // A fresh object per hook: the transfers and port hints the other
        // hook's frames left do not change this one's paths.
        let mut ebpf = kernel::load_sized(&sizes)?;
        for f in &setup {
            let opts = TestRunOptions {
                data_in: Some(f),
                repeat: 1,
                ..Default::default()
            };
            match ebpf.program(ours).context("program missing")? {
                p @ aya::programs::Program::Xdp(_) => {
                    let p: &Xdp = p.try_into()?;
                    p.test_run(opts)?;
                }
                p => {
                    let p: &SchedClassifier = p.try_into()?;
                    p.test_run(opts)?;
                }
            }
        }
        let learned = kernel::read_counters(&ebpf)?;
        let web = (learned.new_clients, learned.new_conns);
        let web6 = (learned.new_clients6, learned.new_conns6);
        if (web, web6) != ((1, 1), (1, 1)) {
            bail!(
                "the boot clients and their connections were not learned: (clients, connections) {web:?} over IPv4, {web6:?} over IPv6",
            );
        }
        println!();
        println!("{hook}:");
        println!();
        println!("| frame | bytes | {bare} | {ours} | difference |");
        println!("|---|---:|---:|---:|---:|");
        for (what, f) in cases.iter().filter(|(w, _)| w.contains(&only)) {
            let (base, mine) = pair(&mut ebpf, bare, ours, f)?;
            println!(
                "| {what} | {} | {base:.0} | {mine:.0} | {:+.0} |",
                f.len(),
                mine - base
            );
        }
        let lost = kernel::read_counters(&ebpf)?.events_lost;
        println!();
        println!("events lost (ring buffer full): {lost}");
    }
    // What the parts cost, each alone in a program of its own (the
    // frame is not read), against the bare XDP_PASS.
    let mut ebpf = kernel::load_sized(&sizes)?;
    kernel::load_costs(&mut ebpf)?;
    println!();
    println!("The parts, each alone (XDP):");
    println!();
    println!("| part | bare_pass | alone | difference |");
    println!("|---|---:|---:|---:|");
    for (name, what) in kernel::COST_PROGRAMS {
        // The settling floor reads its frame: the router advertisement.
        let frame = if name == "cost_settle_ipv6" {
            &ra
        } else {
            &cases[0].1
        };
        let (base, mine) = pair(&mut ebpf, kernel::BARE_XDP_PROGRAM, name, frame)?;
        println!("| {what} | {base:.0} | {mine:.0} | {:+.0} |", mine - base);
    }
    Ok(())
}
