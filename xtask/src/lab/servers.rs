//! What serves the lab's client segment: real DHCP, proxyDHCP and TFTP
//! servers (dnsmasq, isc-dhcp-server, Kea), set up well or in one of the
//! ways PXE boots break, and the HTTP boot chains' web server (see
//! [`super::web`]). The set-ups over IPv6 and OVMF's fallback chain are
//! in [`super::servers6`], isc-dhcp-server's and Kea's configs in
//! [`super::isc`]. Configs, leases and logs go into the lab's state
//! directory.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

use super::isc::ISC_ALWAYS_SEND;
use super::topology::plug_into_segment;
use super::web::{WEB_ROLE, Web};
use super::{
    BOOT_FILE, BR_SRV2_PORT, DHCP_RANGE_END, DHCP_RANGE_START, Lab, PROXY_IP, ROUTER_IF, ROUTER_IP,
    SERVER_IF, SERVER_IP, SERVER2_IP, UPSTREAM_IF, UPSTREAM_PXE_IP, UPSTREAM_ROUTER_IP,
    UPSTREAM_SERVER_IP,
};
use crate::{
    proc::terminate,
    sys::{find_program, ip, netns_command},
};

/// The boot file of [`Servers::DnsmasqBigFile`] and its size.
pub const STORM_FILE: &str = "storm.bin";
pub const STORM_FILE_BYTES: usize = 256 * 1024;

/// What pxelinux.cfg/default of the chain set-up prints.
pub const PXELINUX_OK_MARKER: &str = "LAB-PXELINUX-OK";

/// The syslinux files of the chain (Debian packages pxelinux,
/// syslinux-common, syslinux-efi), by name in the TFTP root.
const SYSLINUX_FILES: [(&str, &str); 4] = [
    ("pxelinux.0", "/usr/lib/PXELINUX/pxelinux.0"),
    ("ldlinux.c32", "/usr/lib/syslinux/modules/bios/ldlinux.c32"),
    ("syslinux.efi", "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi"),
    ("ldlinux.e64", "/usr/lib/syslinux/modules/efi64/ldlinux.e64"),
];

/// dnsmasq's boot file per client architecture (RFC 4578: 7 and 9 are x64
/// UEFI).
const PXELINUX_BOOT: &str = "dhcp-match=set:efi64,option:client-arch,7\n\
     dhcp-match=set:efi64,option:client-arch,9\n\
     dhcp-boot=tag:efi64,syslinux.efi,,10.77.10.1\n\
     dhcp-boot=tag:!efi64,pxelinux.0,,10.77.10.1\n";

/// dnsmasq's boot files of the HTTP chains: BIOS (iPXE ROM) gets the
/// chaining script over TFTP; x64 UEFI (RFC 4578 types 7 and 9) gets
/// ipxe.efi over TFTP, and that iPXE (user class `iPXE`, option 77) the
/// chaining script's URL on the web server.
const HTTP_CHAIN_BOOT: &str = "dhcp-match=set:efi64,option:client-arch,7\n\
     dhcp-match=set:efi64,option:client-arch,9\n\
     dhcp-userclass=set:ipxe,iPXE\n\
     dhcp-boot=tag:!efi64,chain.ipxe,,10.77.10.1\n\
     dhcp-boot=tag:efi64,tag:!ipxe,ipxe.efi,,10.77.10.1\n\
     dhcp-boot=tag:efi64,tag:ipxe,http://10.77.10.1/boot.ipxe\n";

/// dnsmasq lines of UEFI HTTP Boot (measured with OVMF): with `$echo`, the
/// echo of option 60 `HTTPClient` (without it the firmware takes no
/// offer); the URL of `$file` on the web server; iPXE's own DHCP getting
/// the script's URL.
macro_rules! http_boot_lines {
    ($echo:literal, $file:literal) => {
        concat!(
            "dhcp-vendorclass=set:httpboot,HTTPClient\n",
            $echo,
            "dhcp-userclass=set:ipxe,iPXE\n",
            "dhcp-boot=tag:ipxe,http://10.77.10.1/boot.ipxe\n",
            "dhcp-boot=tag:httpboot,tag:!ipxe,http://10.77.10.1/",
            $file,
            "\n"
        )
    };
}
pub(super) use http_boot_lines;
const HTTP_BOOT: &str =
    http_boot_lines!("dhcp-option-force=tag:httpboot,60,HTTPClient\n", "ipxe.efi");
const HTTP_BOOT_MISSING: &str = http_boot_lines!(
    "dhcp-option-force=tag:httpboot,60,HTTPClient\n",
    "missing.efi"
);
const HTTP_BOOT_NO_ECHO: &str = http_boot_lines!("", "ipxe.efi");
/// The echo, and a boot file only for iPXE.
const HTTP_BOOT_NO_URI: &str = "dhcp-vendorclass=set:httpboot,HTTPClient\n\
     dhcp-option-force=tag:httpboot,60,HTTPClient\n\
     dhcp-userclass=set:ipxe,iPXE\n\
     dhcp-boot=tag:ipxe,http://10.77.10.1/boot.ipxe\n";

/// The boot file the "missing file" set-up names (it is not in the root).
pub const MISSING_BOOT_FILE: &str = "missing-boot.ipxe";

/// Roles of the daemons [`Lab::switch_servers`] replaces.
const SERVER_ROLES: [&str; 8] = [
    "dnsmasq", "dnsmasq2", "dhcpd", "kea", "tftp", "proxy", "relay", WEB_ROLE,
];

/// dnsmasq as a proxyDHCP for the lab subnet, with a boot service for BIOS
/// and for x64 UEFI (RFC 4578 types 7 and 9), the boot file from itself.
const PROXY_WITH_BOOT_SERVICE: &str = "dhcp-range=10.77.10.0,proxy,255.255.255.0\n\
     pxe-service=x86PC,\"pxe-monitor lab\",boot.ipxe\n\
     pxe-service=BC_EFI,\"pxe-monitor lab\",boot.ipxe\n\
     pxe-service=x86-64_EFI,\"pxe-monitor lab\",boot.ipxe\n";
/// The same proxy without any boot service (dnsmasq then stays silent).
const PROXY_WITHOUT_BOOT_SERVICE: &str = "dhcp-range=10.77.10.0,proxy,255.255.255.0\n";

/// What serves the client segment, from the server namespace at
/// [`SERVER_IP`] (and, for two servers, the second one at [`SERVER2_IP`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Servers {
    /// dnsmasq: DHCP with next-server and boot file, and TFTP. Boots.
    Dnsmasq,
    /// isc-dhcp-server set up the Microsoft KB 259670 way: option 60
    /// `PXEClient`, 66 and 67 in every answer, no next-server, and nothing
    /// listening on port 4011.
    IscKb259670,
    /// The same misconfiguration served by Kea (`always-send`).
    KeaKb259670,
    /// isc-dhcp-server with option 60 `PXEClient` and next-server + file;
    /// dnsmasq serves TFTP only.
    IscOption60NextServer,
    /// dnsmasq: addresses and TFTP, but no boot file in its answers.
    DnsmasqNoBootFile,
    /// dnsmasq names [`MISSING_BOOT_FILE`], which its TFTP root lacks.
    DnsmasqFileMissing,
    /// No DHCP server at all (only the router's advertisements).
    NoDhcp,
    /// dnsmasq: DHCP naming itself as the TFTP server, and no TFTP server
    /// running (the server answers ICMP port unreachable).
    DnsmasqNoTftp,
    /// isc-dhcp-server with options 66 and 67 only (Windows DHCP style):
    /// no next-server, no option 60; dnsmasq serves TFTP only.
    IscOptions6667Only,
    /// isc-dhcp-server gives addresses only; dnsmasq at [`PROXY_IP`] is the
    /// proxyDHCP (on 67 and 4011, with a boot service per architecture)
    /// and the TFTP server.
    ProxyDhcp,
    /// The same, the proxy configured without a boot service: it stays
    /// silent, so clients get an address and no boot file.
    ProxyDhcpNoBootService,
    /// The router relays DHCP (isc-dhcp-relay, its IP helper) to dnsmasq
    /// on the routed link behind it ([`UPSTREAM_SERVER_IP`]): addresses,
    /// boot file and TFTP.
    Relay,
    /// The router relays to the DHCP server ([`UPSTREAM_SERVER_IP`],
    /// addresses only), but not to the PXE server ([`UPSTREAM_PXE_IP`], a
    /// proxyDHCP with a boot service): it is missing from the helper list.
    RelayMissingPxeServer,
    /// dnsmasq serving a chain: pxelinux.0 (BIOS) or syslinux.efi (x64
    /// UEFI), which fetch ldlinux and probe pxelinux.cfg/ for config files
    /// (most do not exist: normal) before `default` prints
    /// [`PXELINUX_OK_MARKER`].
    PxelinuxChain,
    /// dnsmasq as in [`Servers::Dnsmasq`], naming a boot file of
    /// [`STORM_FILE_BYTES`] (boot storms: many blocks per client).
    DnsmasqBigFile,
    /// dnsmasq as in [`Servers::Dnsmasq`], plus a second dnsmasq at
    /// [`SERVER2_IP`] that offers addresses without boot information, a
    /// second later (`dhcp-reply-delay`), broadcast.
    TwoDhcpServers,
    /// dnsmasq (DHCP + TFTP) as in [`Servers::Dnsmasq`], and a web server
    /// (python3's http.server) at [`SERVER_IP`] port 80. BIOS gets the iPXE
    /// script [`HTTP_CHAIN_FILE`] over TFTP; x64 UEFI gets Debian's ipxe.efi
    /// over TFTP, which does DHCP again (user class `iPXE`) and gets the
    /// URL of [`HTTP_BOOT_SCRIPT`] on the web server. Both scripts chain
    /// [`HTTP_STAGE2`] over HTTP, which prints [`BOOT_OK_MARKER`]. Boots.
    ///
    /// [`HTTP_CHAIN_FILE`]: super::HTTP_CHAIN_FILE
    /// [`HTTP_BOOT_SCRIPT`]: super::HTTP_BOOT_SCRIPT
    /// [`HTTP_STAGE2`]: super::HTTP_STAGE2
    /// [`BOOT_OK_MARKER`]: super::BOOT_OK_MARKER
    HttpChain,
    /// [`Servers::HttpChain`] without [`HTTP_STAGE2`] on the web server: the
    /// chained file gets a 404.
    ///
    /// [`HTTP_STAGE2`]: super::HTTP_STAGE2
    HttpChainMissing,
    /// [`Servers::HttpChain`] with no web server running: the server
    /// answers the SYN to port 80 with a RST.
    HttpChainNoServer,
    /// [`Servers::HttpChain`], the web server (a python3 script) announcing
    /// [`HTTP_STAGE2`] with a `Content-Length` of [`HTTP_CUT_LENGTH`] and
    /// closing the connection after [`HTTP_CUT_SENT`] bytes.
    ///
    /// [`HTTP_STAGE2`]: super::HTTP_STAGE2
    /// [`HTTP_CUT_LENGTH`]: super::HTTP_CUT_LENGTH
    /// [`HTTP_CUT_SENT`]: super::HTTP_CUT_SENT
    HttpChainCut,
    /// [`Servers::HttpChain`] for BIOS with one more stage: the TFTP script
    /// has the firmware's iPXE chain-load Debian's undionly.kpxe over
    /// TFTP, whose own DHCP and script then chain the HTTP stage (script,
    /// kernel, initrd). Boots.
    HttpChainUndionly,
    /// dnsmasq and the web server for UEFI HTTP Boot: HTTPClient clients
    /// get option 60 `HTTPClient` echoed and the URL of Debian's ipxe.efi
    /// on the web server, which does DHCP again (user class `iPXE`) and
    /// chains as in [`Servers::HttpChain`]. Boots.
    HttpBoot,
    /// [`Servers::HttpBoot`], the URL naming a file the web server does
    /// not have (404).
    HttpBootMissing,
    /// [`Servers::HttpBoot`] without the `HTTPClient` echo: the firmware
    /// ignores the offers.
    HttpBootNoEcho,
    /// [`Servers::HttpBoot`] with the echo and no URL for HTTPClient
    /// clients: the firmware ignores the offers.
    HttpBootNoUri,
    /// dnsmasq as in [`Servers::Dnsmasq`], and DHCPv6 with option 59
    /// `tftp://[fd77:10::1]/boot.ipxe`, its TFTP server answering over
    /// IPv6 too. PXE over IPv6 boots.
    DnsmasqIpv6,
    /// [`Servers::DnsmasqIpv6`], option 59 naming [`MISSING_BOOT_FILE`].
    DnsmasqIpv6FileMissing,
    /// [`Servers::DnsmasqIpv6`] without option 59.
    DnsmasqIpv6NoBootUrl,
    /// [`Servers::DnsmasqIpv6`] with no TFTP server running: the server
    /// answers the read request with ICMPv6 port unreachable.
    DnsmasqIpv6NoTftp,
    /// The router relays DHCPv6 (isc-dhcp-relay `-6`) to dnsmasq behind it
    /// at [`UPSTREAM_SERVER_IP6`](super::UPSTREAM_SERVER_IP6), whose option
    /// 59 names boot.ipxe on itself: TFTP over IPv6 across the router.
    /// PXE over IPv6 boots.
    RelayIpv6,
    /// OVMF's chain on one server (dnsmasq and the web server): PXE over
    /// IPv4 is named [`MISSING_BOOT_FILE`], nothing answers DHCPv6, HTTP
    /// Boot over IPv4 gets ipxe.efi as in [`Servers::HttpBoot`]. Boots, at
    /// the third attempt.
    FallbackChain,
    /// dnsmasq (DHCPv4 for iPXE, DHCPv6) and the web server on both
    /// families for UEFI HTTP Boot over IPv6: HTTPClient clients get option
    /// 16 `HTTPClient` echoed and option 59 naming Debian's ipxe.efi at
    /// [`SERVER_IP6`](super::SERVER_IP6); iPXE then chains over IPv4 as in
    /// [`Servers::HttpBoot`]. Boots.
    DnsmasqHttp6,
    /// [`Servers::DnsmasqHttp6`], the URL naming a missing file (404).
    DnsmasqHttp6Missing,
    /// [`Servers::DnsmasqHttp6`] without the echo of option 16.
    DnsmasqHttp6NoEcho,
}

impl Servers {
    /// Whether the servers sit behind the router (a relay scenario).
    pub fn upstream(self) -> bool {
        matches!(
            self,
            Servers::Relay | Servers::RelayMissingPxeServer | Servers::RelayIpv6
        )
    }

    /// Whether UEFI clients are handed iPXE (ipxe.efi), whose console then
    /// says how the boot went, not EDK2's.
    pub fn ipxe_on_uefi(self) -> bool {
        matches!(
            self,
            Servers::HttpChain
                | Servers::HttpChainMissing
                | Servers::HttpChainNoServer
                | Servers::HttpChainCut
                | Servers::HttpBoot
                | Servers::HttpBootMissing
                | Servers::HttpBootNoEcho
                | Servers::HttpBootNoUri
                | Servers::FallbackChain
                | Servers::DnsmasqHttp6
                | Servers::DnsmasqHttp6Missing
                | Servers::DnsmasqHttp6NoEcho
        )
    }
}

/// One dnsmasq instance.
pub(super) struct DnsmasqConf {
    pub(super) role: &'static str,
    pub(super) dhcp_range: Option<(&'static str, &'static str)>,
    /// `dhcp-boot=` (file, server address).
    pub(super) boot: Option<(&'static str, &'static str)>,
    pub(super) tftp: bool,
    pub(super) reply_delay_s: Option<u32>,
    /// Broadcast every reply (else offers go to the client's MAC).
    pub(super) broadcast: bool,
    /// Configuration lines added as they are.
    pub(super) extra: &'static str,
}

impl DnsmasqConf {
    /// A proxyDHCP (and the TFTP server of its boot file), with or without
    /// a boot service.
    fn proxy(boot_service: bool) -> Self {
        DnsmasqConf {
            role: "proxy",
            dhcp_range: None,
            boot: None,
            tftp: true,
            reply_delay_s: None,
            broadcast: false,
            extra: if boot_service {
                PROXY_WITH_BOOT_SERVICE
            } else {
                PROXY_WITHOUT_BOOT_SERVICE
            },
        }
    }

    fn conf(&self, dir: &Path) -> String {
        let mut c = format!(
            "# generated by `cargo xtask lab` ({})\n\
             port=0\nno-resolv\nno-hosts\ninterface={SERVER_IF}\nbind-interfaces\n\
             no-ping\nlog-dhcp\n",
            self.role
        );
        if let Some((start, end)) = self.dhcp_range {
            c += &format!(
                "dhcp-range={start},{end},255.255.255.0,1h\n\
                 dhcp-option=option:router,{ROUTER_IP}\n\
                 dhcp-leasefile={}\n",
                dir.join(format!("{}.leases", self.role)).display()
            );
        }
        if let Some((file, server)) = self.boot {
            c += &format!("dhcp-boot={file},,{server}\n");
        }
        if let Some(s) = self.reply_delay_s {
            c += &format!("dhcp-reply-delay={s}\n");
        }
        if self.broadcast {
            c += "dhcp-broadcast\n";
        }
        c += self.extra;
        if self.tftp {
            c += &format!("enable-tftp\ntftp-root={}\n", dir.join("tftp").display());
        }
        c
    }
}

impl Lab {
    /// Replaces what serves the segment: stops the DHCP/TFTP daemons and
    /// starts `servers`' (radvd keeps running).
    pub fn switch_servers(&mut self, servers: Servers) -> Result<()> {
        let mut errors = Vec::new();
        let mut kept = Vec::new();
        for mut p in std::mem::take(&mut self.daemons) {
            if SERVER_ROLES.contains(&p.role) {
                if let Err(e) = terminate(&mut p, libc::SIGTERM, std::time::Duration::from_secs(3))
                {
                    errors.push(format!("{}: {e:#}", p.role));
                }
            } else {
                kept.push(p);
            }
        }
        self.daemons = kept;
        self.write_state()?;
        if !errors.is_empty() {
            bail!("stopping the servers: {}", errors.join("; "));
        }
        self.start_servers(servers)
    }

    pub(super) fn start_servers(&mut self, servers: Servers) -> Result<()> {
        self.servers = servers;
        let healthy = DnsmasqConf {
            role: "dnsmasq",
            dhcp_range: Some((DHCP_RANGE_START, DHCP_RANGE_END)),
            boot: Some((BOOT_FILE, SERVER_IP)),
            tftp: true,
            reply_delay_s: None,
            broadcast: false,
            extra: "",
        };
        let tftp_only = DnsmasqConf {
            role: "tftp",
            dhcp_range: None,
            boot: None,
            tftp: true,
            reply_delay_s: None,
            broadcast: false,
            extra: "",
        };
        match servers {
            Servers::Dnsmasq => self.start_dnsmasq(&healthy),
            Servers::IscKb259670 => self.start_dhcpd(
                "the KB 259670 misconfiguration",
                &format!(
                    "\toption vendor-class-identifier \"PXEClient\";\n\
                     \toption tftp-server-name \"{SERVER_IP}\";\n\
                     \toption bootfile-name \"{BOOT_FILE}\";\n{ISC_ALWAYS_SEND}"
                ),
            ),
            Servers::KeaKb259670 => self.start_kea(),
            Servers::IscOption60NextServer => {
                self.start_dnsmasq(&tftp_only)?;
                self.start_dhcpd(
                    "option 60 PXEClient with next-server and file",
                    &format!(
                        "\toption vendor-class-identifier \"PXEClient\";\n\
                         \tnext-server {SERVER_IP};\n\
                         \tfilename \"{BOOT_FILE}\";\n{ISC_ALWAYS_SEND}"
                    ),
                )
            }
            Servers::DnsmasqNoBootFile => self.start_dnsmasq(&DnsmasqConf {
                boot: None,
                ..healthy
            }),
            Servers::DnsmasqFileMissing => self.start_dnsmasq(&DnsmasqConf {
                boot: Some((MISSING_BOOT_FILE, SERVER_IP)),
                ..healthy
            }),
            Servers::NoDhcp => Ok(()),
            Servers::DnsmasqNoTftp => self.start_dnsmasq(&DnsmasqConf {
                tftp: false,
                ..healthy
            }),
            Servers::IscOptions6667Only => {
                self.start_dnsmasq(&tftp_only)?;
                self.start_dhcpd(
                    "options 66 and 67 only (no next-server, no option 60)",
                    &format!(
                        "\toption tftp-server-name \"{SERVER_IP}\";\n\
                         \toption bootfile-name \"{BOOT_FILE}\";\n{ISC_ALWAYS_SEND}"
                    ),
                )
            }
            Servers::ProxyDhcp | Servers::ProxyDhcpNoBootService => {
                self.start_dhcpd("addresses only (a proxyDHCP gives the boot file)", "")?;
                let srv2 = self.second_server(PROXY_IP)?;
                self.start_dnsmasq_in(&srv2, &DnsmasqConf::proxy(servers == Servers::ProxyDhcp))
            }
            Servers::Relay => {
                self.start_dnsmasq(&DnsmasqConf {
                    boot: Some((BOOT_FILE, UPSTREAM_SERVER_IP)),
                    ..healthy
                })?;
                self.start_relay()
            }
            Servers::RelayMissingPxeServer => {
                self.start_dhcpd("addresses only, behind a relay", "")?;
                let srv2 = self.second_server(UPSTREAM_PXE_IP)?;
                self.start_dnsmasq_in(&srv2, &DnsmasqConf::proxy(true))?;
                self.start_relay()
            }
            Servers::DnsmasqBigFile => {
                // Not all zeros: each block differs.
                let data: Vec<u8> = (0..STORM_FILE_BYTES).map(|i| (i * 7 % 251) as u8).collect();
                fs::write(self.dir.join("tftp").join(STORM_FILE), data)?;
                self.start_dnsmasq(&DnsmasqConf {
                    boot: Some((STORM_FILE, SERVER_IP)),
                    ..healthy
                })
            }
            Servers::PxelinuxChain => {
                let tftp = self.dir.join("tftp");
                for (name, from) in SYSLINUX_FILES {
                    fs::copy(from, tftp.join(name)).with_context(|| {
                        format!("copying {from} (packages pxelinux, syslinux-common, syslinux-efi)")
                    })?;
                }
                fs::create_dir_all(tftp.join("pxelinux.cfg"))?;
                write(
                    &tftp.join("pxelinux.cfg/default"),
                    &format!(
                        "SAY {PXELINUX_OK_MARKER}\nPROMPT 0\nTIMEOUT 0\nDEFAULT local\nLABEL local\n  LOCALBOOT -1\n"
                    ),
                )?;
                self.start_dnsmasq(&DnsmasqConf {
                    boot: None,
                    extra: PXELINUX_BOOT,
                    ..healthy
                })
            }
            Servers::HttpChain
            | Servers::HttpChainMissing
            | Servers::HttpChainNoServer
            | Servers::HttpChainCut
            | Servers::HttpChainUndionly => {
                if servers == Servers::HttpChainUndionly {
                    self.write_http_chain_undionly()?;
                } else {
                    self.write_http_chain(servers != Servers::HttpChainMissing)?;
                }
                self.start_dnsmasq(&DnsmasqConf {
                    boot: None,
                    extra: HTTP_CHAIN_BOOT,
                    ..healthy
                })?;
                match servers {
                    Servers::HttpChainNoServer => Ok(()),
                    Servers::HttpChainCut => self.start_web(Web::Cut),
                    _ => self.start_web(Web::Files),
                }
            }
            Servers::HttpBoot
            | Servers::HttpBootMissing
            | Servers::HttpBootNoEcho
            | Servers::HttpBootNoUri => {
                self.write_http_boot()?;
                let extra = match servers {
                    Servers::HttpBoot => HTTP_BOOT,
                    Servers::HttpBootMissing => HTTP_BOOT_MISSING,
                    Servers::HttpBootNoUri => HTTP_BOOT_NO_URI,
                    _ => HTTP_BOOT_NO_ECHO,
                };
                self.start_dnsmasq(&DnsmasqConf {
                    boot: None,
                    extra,
                    ..healthy
                })?;
                self.start_web(Web::Files)
            }
            Servers::DnsmasqIpv6
            | Servers::DnsmasqIpv6FileMissing
            | Servers::DnsmasqIpv6NoBootUrl
            | Servers::DnsmasqIpv6NoTftp
            | Servers::RelayIpv6
            | Servers::FallbackChain
            | Servers::DnsmasqHttp6
            | Servers::DnsmasqHttp6Missing
            | Servers::DnsmasqHttp6NoEcho => self.start_servers6(servers, healthy),
            Servers::TwoDhcpServers => {
                self.start_dnsmasq(&healthy)?;
                let srv2 = self.second_server(SERVER2_IP)?;
                self.start_dnsmasq_in(
                    &srv2,
                    &DnsmasqConf {
                        role: "dnsmasq2",
                        dhcp_range: Some(("10.77.10.210", "10.77.10.250")),
                        boot: None,
                        tftp: false,
                        reply_delay_s: Some(1),
                        // Its answers reach the whole segment, the monitor
                        // on the first server's interface included.
                        broadcast: true,
                        extra: "",
                    },
                )
            }
        }
    }

    /// The second server's namespace, plugged at `addr` into the segment,
    /// or behind the router in relay scenarios, the first time.
    fn second_server(&mut self, addr: &str) -> Result<String> {
        let srv2 = self.names.srv2.clone();
        if !self.created_ns.contains(&srv2) {
            self.add_ns(&srv2)?;
            let upstream = self.created_ns.contains(&self.names.up);
            let link = if upstream {
                self.names.up.clone()
            } else {
                self.names.cli.clone()
            };
            plug_into_segment(&link, &srv2, BR_SRV2_PORT, SERVER_IF, addr)?;
            if upstream {
                ip(
                    Some(&srv2),
                    &["route", "add", "10.77.10.0/24", "via", UPSTREAM_ROUTER_IP],
                )?;
            }
        }
        Ok(srv2)
    }

    /// isc-dhcp-relay on the router: the client segment's IP helper,
    /// pointing at the DHCP server behind it only.
    fn start_relay(&mut self) -> Result<()> {
        let dhcrelay = find_program("dhcrelay", "isc-dhcp-relay")?;
        let mut cmd = netns_command(&self.names.rtr, &dhcrelay);
        cmd.args([
            "-4",
            "-d",
            "-id",
            ROUTER_IF,
            "-iu",
            UPSTREAM_IF,
            UPSTREAM_SERVER_IP,
        ]);
        self.start_daemon("relay", cmd, |l| l.contains("Sending on"))
    }

    pub(super) fn start_dnsmasq(&mut self, d: &DnsmasqConf) -> Result<()> {
        let ns = self.names.srv.clone();
        self.start_dnsmasq_in(&ns, d)
    }

    fn start_dnsmasq_in(&mut self, ns: &str, d: &DnsmasqConf) -> Result<()> {
        let dnsmasq = find_program("dnsmasq", "dnsmasq")?;
        let conf = self.dir.join(format!("{}.conf", d.role));
        write(&conf, &d.conf(&self.dir))?;
        let _ = fs::remove_file(self.dir.join(format!("{}.leases", d.role)));
        let mut cmd = netns_command(ns, &dnsmasq);
        cmd.arg("--no-daemon")
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.join(format!("{}.pid", d.role)).display()
            ))
            .arg("--log-facility=-");
        self.start_daemon(d.role, cmd, |l| l.contains("started, version"))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::web::IPXE_EFI_FILE;
    use super::super::{HTTP_BOOT_SCRIPT, HTTP_CHAIN_FILE};
    use super::*;

    #[test]
    fn the_http_chain_boot_lines_name_its_files() {
        for line in [
            format!("dhcp-boot=tag:!efi64,{HTTP_CHAIN_FILE},,{SERVER_IP}\n"),
            format!("dhcp-boot=tag:efi64,tag:!ipxe,{IPXE_EFI_FILE},,{SERVER_IP}\n"),
            format!("dhcp-boot=tag:efi64,tag:ipxe,http://{SERVER_IP}/{HTTP_BOOT_SCRIPT}\n"),
        ] {
            assert!(
                HTTP_CHAIN_BOOT.contains(&line),
                "{line:?} in {HTTP_CHAIN_BOOT:?}"
            );
        }
    }
}
