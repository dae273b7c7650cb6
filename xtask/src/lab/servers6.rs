//! The lab's set-ups that serve over IPv6, and OVMF's whole fallback chain:
//! dnsmasq's DHCPv6 (option 59 naming a boot file on its own TFTP server
//! over IPv6, or not), DHCPv6 relayed by the router (isc-dhcp-relay `-6`)
//! to a server behind it, and the chain's one server (PXE over IPv4 named a
//! missing file, no DHCPv6, HTTP Boot over IPv4), and UEFI HTTP Boot over
//! IPv6 (DHCPv6 naming a URL at [`SERVER_IP6`], the web server on both
//! families). The addresses they add are used at once (no duplicate
//! address detection on the lab's links).

use anyhow::Result;

use super::servers::{DnsmasqConf, Servers, http_boot_lines};
use super::web::Web;
use super::{Lab, RA_PREFIX, ROUTER_IF, SERVER_IF, SERVER_IP6, UPSTREAM_IF, UPSTREAM_SERVER_IP6};
use crate::sys::{find_program, ip, netns_command};

/// dnsmasq's DHCPv6 for PXE over IPv6 (measured with OVMF): addresses from
/// the prefix the router advertises ([`RA_PREFIX`]), and, with `$file`,
/// option 59 naming it on dnsmasq's own TFTP server over IPv6
/// ([`SERVER_IP6`]).
macro_rules! dhcp6_lines {
    () => {
        "dhcp-range=fd77:10::100,fd77:10::1ff,64,10m\n"
    };
    ($file:literal) => {
        concat!(
            dhcp6_lines!(),
            "dhcp-option=option6:bootfile-url,tftp://[fd77:10::1]/",
            $file,
            "\n"
        )
    };
}
const DHCP6_BOOT: &str = dhcp6_lines!("boot.ipxe");
/// Behind the router: the range of the client segment's prefix (dnsmasq
/// picks it by the relay's link address), the boot file on the server
/// across the router.
const DHCP6_RELAYED: &str = "dhcp-range=fd77:10::100,fd77:10::1ff,64,10m\n\
     dhcp-option=option6:bootfile-url,tftp://[fd77:20::1]/boot.ipxe\n";
const DHCP6_BOOT_MISSING: &str = dhcp6_lines!("missing-boot.ipxe");
const DHCP6_NO_BOOT_URL: &str = dhcp6_lines!();

/// OVMF's whole chain: PXE clients (not HTTPClient, not iPXE) are named a
/// boot file the TFTP root lacks, there is no DHCPv6, and HTTP Boot gets
/// ipxe.efi as in [`Servers::HttpBoot`].
const FALLBACK_CHAIN: &str = concat!(
    "dhcp-vendorclass=set:httpboot,HTTPClient\n",
    "dhcp-boot=tag:!httpboot,tag:!ipxe,missing-boot.ipxe,,10.77.10.1\n",
    http_boot_lines!("dhcp-option-force=tag:httpboot,60,HTTPClient\n", "ipxe.efi")
);

/// dnsmasq's lines of UEFI HTTP Boot over IPv6: addresses as in
/// [`dhcp6_lines`]; for HTTPClient clients (option 16, enterprise 343),
/// with `$echo`, option 16 "echoed" (`http6_echo!`), and option 59 the URL
/// of `$file` on the web server at [`SERVER_IP6`]; iPXE's own DHCP (over
/// IPv4) getting the script's URL as in [`Servers::HttpBoot`].
macro_rules! http6_boot_lines {
    ($echo:expr, $file:literal) => {
        concat!(
            dhcp6_lines!(),
            "dhcp-vendorclass=set:httpboot6,enterprise:343,HTTPClient\n",
            $echo,
            "dhcp-option=tag:httpboot6,option6:bootfile-url,http://[fd77:10::1]/",
            $file,
            "\n",
            "dhcp-userclass=set:ipxe,iPXE\n",
            "dhcp-boot=tag:ipxe,http://10.77.10.1/boot.ipxe\n"
        )
    };
}
/// Option 16 in the offers, as far as dnsmasq can: it writes option 16
/// (`OT_CSTRING`) as strings each after a 2-byte length, never a raw
/// enterprise number (colon-hex is sent as text). EDK2 (Debian 12's OVMF,
/// HttpBootDhcp6.c) only compares the 10 bytes after the enterprise number
/// and the first length with `HTTPClient`: a first string `xy` fills the
/// enterprise field (0x00027879, not 343), its length and `HTTPClient`
/// follow. Measured: OVMF takes such an offer.
macro_rules! http6_echo {
    () => {
        "dhcp-option-force=tag:httpboot6,option6:16,xy,HTTPClient\n"
    };
}
const HTTP6_BOOT: &str = http6_boot_lines!(http6_echo!(), "ipxe.efi");
const HTTP6_BOOT_MISSING: &str = http6_boot_lines!(http6_echo!(), "missing.efi");
const HTTP6_BOOT_NO_ECHO: &str = http6_boot_lines!("", "ipxe.efi");

impl Servers {
    /// Whether the server answers over IPv6 (at [`SERVER_IP6`]).
    pub fn ipv6(self) -> bool {
        matches!(
            self,
            Servers::DnsmasqIpv6
                | Servers::DnsmasqIpv6FileMissing
                | Servers::DnsmasqIpv6NoBootUrl
                | Servers::DnsmasqIpv6NoTftp
                | Servers::RelayIpv6
                | Servers::DnsmasqHttp6
                | Servers::DnsmasqHttp6Missing
                | Servers::DnsmasqHttp6NoEcho
        )
    }
}

/// `addr` on `dev` in namespace `ns`, usable at once (`nodad`).
fn add_ipv6(ns: &str, addr: &str, dev: &str) -> Result<()> {
    ip(
        Some(ns),
        &["-6", "addr", "replace", addr, "dev", dev, "nodad"],
    )?;
    Ok(())
}

impl Lab {
    /// Starts the set-ups of this module; `healthy` is the dnsmasq of
    /// [`Servers::Dnsmasq`] they start from.
    pub(super) fn start_servers6(&mut self, servers: Servers, healthy: DnsmasqConf) -> Result<()> {
        match servers {
            Servers::DnsmasqIpv6
            | Servers::DnsmasqIpv6FileMissing
            | Servers::DnsmasqIpv6NoBootUrl
            | Servers::DnsmasqIpv6NoTftp => {
                self.add_server_ipv6()?;
                let extra = match servers {
                    Servers::DnsmasqIpv6 | Servers::DnsmasqIpv6NoTftp => DHCP6_BOOT,
                    Servers::DnsmasqIpv6FileMissing => DHCP6_BOOT_MISSING,
                    _ => DHCP6_NO_BOOT_URL,
                };
                self.start_dnsmasq(&DnsmasqConf {
                    extra,
                    tftp: servers != Servers::DnsmasqIpv6NoTftp,
                    ..healthy
                })
            }
            Servers::RelayIpv6 => {
                self.add_relay_ipv6()?;
                self.start_dnsmasq(&DnsmasqConf {
                    extra: DHCP6_RELAYED,
                    ..healthy
                })?;
                self.start_relay6()
            }
            Servers::FallbackChain => {
                self.write_http_boot()?;
                self.start_dnsmasq(&DnsmasqConf {
                    boot: None,
                    extra: FALLBACK_CHAIN,
                    ..healthy
                })?;
                self.start_web(Web::Files)
            }
            Servers::DnsmasqHttp6 | Servers::DnsmasqHttp6Missing | Servers::DnsmasqHttp6NoEcho => {
                self.add_server_ipv6()?;
                self.write_http_boot()?;
                let extra = match servers {
                    Servers::DnsmasqHttp6 => HTTP6_BOOT,
                    Servers::DnsmasqHttp6Missing => HTTP6_BOOT_MISSING,
                    _ => HTTP6_BOOT_NO_ECHO,
                };
                self.start_dnsmasq(&DnsmasqConf {
                    boot: None,
                    extra,
                    ..healthy
                })?;
                self.start_web(Web::DualStack)
            }
            other => unreachable!("{other:?} is not an IPv6 or fallback-chain set-up"),
        }
    }

    /// isc-dhcp-relay for DHCPv6 on the router: clients' messages from the
    /// segment relayed to the server behind it.
    fn start_relay6(&mut self) -> Result<()> {
        let dhcrelay = find_program("dhcrelay", "isc-dhcp-relay")?;
        let mut cmd = netns_command(&self.names.rtr, &dhcrelay);
        let upper = format!("{UPSTREAM_SERVER_IP6}%{UPSTREAM_IF}");
        cmd.args(["-6", "-d", "--no-pid", "-l", ROUTER_IF, "-u", &upper]);
        self.start_daemon("relay", cmd, |l| l.contains("Sending on"))
    }

    /// IPv6 across the router: the upstream link's addresses, the server's
    /// route back to the client segment, and the router's own address on
    /// the segment (the link address its relay messages carry).
    fn add_relay_ipv6(&mut self) -> Result<()> {
        let (srv, rtr) = (self.names.srv.clone(), self.names.rtr.clone());
        add_ipv6(&srv, &format!("{UPSTREAM_SERVER_IP6}/64"), SERVER_IF)?;
        add_ipv6(&rtr, "fd77:20::fe/64", UPSTREAM_IF)?;
        add_ipv6(&rtr, "fd77:10::fe/64", ROUTER_IF)?;
        ip(
            Some(&srv),
            &["-6", "route", "replace", RA_PREFIX, "via", "fd77:20::fe"],
        )?;
        Ok(())
    }

    /// [`SERVER_IP6`] on the server's interface, usable at once (no
    /// duplicate address detection on the lab's own segment).
    fn add_server_ipv6(&mut self) -> Result<()> {
        add_ipv6(&self.names.srv, &format!("{SERVER_IP6}/64"), SERVER_IF)
    }
}
