//! The lab's set-ups that serve over IPv6, and OVMF's whole fallback chain:
//! dnsmasq's DHCPv6 (option 59 naming a boot file on its own TFTP server
//! over IPv6, or not), DHCPv6 relayed by the router (isc-dhcp-relay `-6`)
//! to a server behind it, and the chain's one server (PXE over IPv4 named a
//! missing file, no DHCPv6, HTTP Boot over IPv4). The addresses they add
//! are used at once (no duplicate address detection on the lab's links).

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
