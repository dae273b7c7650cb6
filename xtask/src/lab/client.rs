//! The lab's PXE client: qemu with real firmware, and what its console
//! says about the boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{BOOT_OK_MARKER, CHAIN_FAILED_MARKER, CLIENT_MAC, CLIENT_TAP, Lab};
use crate::proc::{is_alive, spawn, terminate, wait_ready};
use crate::sys::{find_program, netns_command};

/// The network-boot firmware of a lab client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    /// SeaBIOS with the iPXE ROM of ipxe-qemu (e1000).
    Bios,
    /// OVMF (EDK2) and its own PXE stack: virtio-net with no option ROM,
    /// so EDK2's PxeBcDxe boots, not iPXE's EFI driver.
    Uefi,
    /// OVMF booting over UEFI HTTP Boot (EDK2's HttpBootDxe): its PXE
    /// attempts and IPv6 turned off through fw_cfg ([`HTTP_BOOT_FW_CFG`]),
    /// so its first boot option is HTTP Boot over IPv4 (else it spends
    /// about a minute in PXE over IPv4 and IPv6 first).
    UefiHttp,
    /// OVMF with PXE over IPv4 turned off through fw_cfg
    /// ([`PXE6_FW_CFG`]): its first boot option is PXE over IPv6 (DHCPv6,
    /// then TFTP over IPv6).
    Uefi6,
    /// OVMF with IPv4 and both PXE attempts turned off through fw_cfg
    /// ([`HTTP6_BOOT_FW_CFG`]): its only network boot option is HTTP Boot
    /// over IPv6 (DHCPv6, then HTTP from the URL in option 59).
    UefiHttp6,
    /// OVMF as it comes, every boot option in its order (PXE over IPv4,
    /// PXE over IPv6, HTTP Boot over IPv4 and IPv6): the console decides
    /// when the chain ends, on iPXE's lines (the HTTP Boot set-ups hand it
    /// ipxe.efi) or HTTP Boot's errors.
    UefiChain,
}

impl Firmware {
    pub fn label(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
            Firmware::UefiHttp => "uefi-http",
            Firmware::Uefi6 => "uefi6",
            Firmware::UefiHttp6 => "uefi-http6",
            Firmware::UefiChain => "uefi-chain",
        }
    }

    /// OVMF (EDK2), in any of its set-ups.
    pub fn is_uefi(self) -> bool {
        self != Firmware::Bios
    }
}

/// OVMF's run-time switches (OvmfPkg/RUNTIME_CONFIG.md) that leave HTTP
/// Boot over IPv4 as its only network boot option.
pub const HTTP_BOOT_FW_CFG: [&str; 3] = [
    "name=opt/org.tianocore/IPv4PXESupport,string=no",
    "name=opt/org.tianocore/IPv6PXESupport,string=no",
    "name=opt/org.tianocore/IPv6Support,string=no",
];

/// OVMF's run-time switches that leave HTTP Boot over IPv6 as its only
/// network boot option.
pub const HTTP6_BOOT_FW_CFG: [&str; 3] = [
    "name=opt/org.tianocore/IPv4Support,string=no",
    "name=opt/org.tianocore/IPv4PXESupport,string=no",
    "name=opt/org.tianocore/IPv6PXESupport,string=no",
];

/// qemu's boot menu wait for [`Firmware::UefiHttp6`]: as OVMF's first boot
/// option, HTTP Boot over IPv6 fails at once (measured: `Error: Unexpected
/// network error.` 3.6 s after power-on, no DHCPv6 Solicit sent; EDK2's
/// HttpBootDhcp6Sarr, unlike PXE's, does not wait for the link-local
/// address, probably the cause). With 3 s of boot manager wait it sends
/// its Solicit.
pub const HTTP6_BOOT_WAIT: [&str; 2] = ["-boot", "menu=on,splash-time=3000"];

/// OVMF's run-time switch that leaves PXE over IPv6 its first boot option.
pub const PXE6_FW_CFG: [&str; 1] = ["name=opt/org.tianocore/IPv4PXESupport,string=no"];

/// Where OVMF lives (Debian's ovmf package).
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// iPXE lines after which it will not boot any more.
const IPXE_FAILURE_LINES: &[&str] = &[
    "Nothing to boot",
    "No configuration methods succeeded",
    "Connection timed out",
    "No such file or directory",
    "No more network devices",
    "No bootable device",
    // An HTTP chain: nothing listening (a RST to the SYN), the server
    // closing the connection before the end of the file, and the chaining
    // script's own line after any failed `chain`.
    "Connection reset",
    "Input/output error",
    CHAIN_FAILED_MARKER,
];

/// EDK2: the IPv4 PXE boot option downloaded its boot file.
const EDK2_BOOTED: &str = "NBP file downloaded successfully";
/// EDK2 lines that end the IPv4 PXE attempt: its error codes, or the next
/// boot option starting.
const EDK2_FAILURE_LINES: &[&str] = &["PXE-E", ">>Start PXE over IPv6", ">>Start HTTP Boot"];
/// EDK2 lines that end a PXE over IPv6 attempt: its error codes, or the
/// next boot option starting.
const EDK2_PXE6_FAILURE_LINES: &[&str] = &["PXE-E", ">>Start HTTP Boot"];
/// EDK2 HttpBootDxe's lines that end an HTTP Boot attempt (its error
/// texts, HttpBootSupport.c and HttpBootImpl.c), and the boot manager
/// giving up on the option.
const EDK2_HTTP_FAILURE_LINES: &[&str] = &[
    "Client Error:",
    "Server Error:",
    "Redirection:",
    "Error: ",
    "BdsDxe: failed to load",
];
/// HttpBootDxe's error texts alone.
const EDK2_HTTP_ERROR_LINES: &[&str] =
    &["Client Error:", "Server Error:", "Redirection:", "Error: "];
/// The boot manager reaching OVMF's last network boot option, HTTP Boot
/// over IPv6 (its name as the boot manager prints it when loading it and
/// when it failed, `Boot0004 "UEFI HTTPv6 (MAC:...)"`): the chain did not
/// boot before it.
const CHAIN_END_LINES: &[&str] = &["\"UEFI HTTPv6 (MAC:"];

/// What the client's console said about its boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    pub booted: bool,
    /// The line that said so ("" when the console said nothing decisive
    /// before the timeout or qemu's exit).
    pub line: String,
}

/// Reads a serial console log (`None`: nothing decisive yet). `booted`:
/// the line that says the boot went through, when not the firmware's own
/// (a loader further down the chain prints it). With `ipxe_on_uefi`, a
/// UEFI client's boot file is iPXE (ipxe.efi): its download is no boot
/// yet, iPXE's lines decide (its failures and EDK2's; [`BOOT_OK_MARKER`]
/// unless `booted` says otherwise).
pub fn read_console(
    firmware: Firmware,
    ipxe_on_uefi: bool,
    text: &str,
    booted: Option<&str>,
) -> Option<Console> {
    decide(firmware, ipxe_on_uefi, text, booted).map(|(c, _)| c)
}

/// The rows of the consoles' screens (SeaBIOS's and EFI's text mode: 80 by
/// 25): a line break on the last one scrolls, the cursor stays there.
const SCREEN_ROWS: u32 = 25;

/// SeaBIOS's serial console is a screen of this many columns: a line that
/// fills a row goes on in the next (it writes a line break there).
const BIOS_COLUMNS: usize = 80;

/// How long [`Lab::wait_console`] waits for a decisive line that is still
/// being written (no line break after it yet) to be finished.
const LINE_GRACE: Duration = Duration::from_secs(1);

/// [`read_console`], and whether the decisive line is finished: a line
/// break follows it (and, on BIOS, it does not fill its row: the rest
/// would follow on the next).
fn decide(
    firmware: Firmware,
    ipxe_on_uefi: bool,
    text: &str,
    booted: Option<&str>,
) -> Option<(Console, bool)> {
    let (ok, failures): (_, &[&[&str]]) = match firmware {
        Firmware::Bios => (BOOT_OK_MARKER, &[IPXE_FAILURE_LINES]),
        Firmware::Uefi if ipxe_on_uefi => {
            (BOOT_OK_MARKER, &[EDK2_FAILURE_LINES, IPXE_FAILURE_LINES])
        }
        Firmware::Uefi => (EDK2_BOOTED, &[EDK2_FAILURE_LINES]),
        Firmware::Uefi6 => (EDK2_BOOTED, &[EDK2_PXE6_FAILURE_LINES]),
        // The HTTP Boot set-ups hand the firmware ipxe.efi.
        Firmware::UefiHttp | Firmware::UefiHttp6 => (
            BOOT_OK_MARKER,
            &[EDK2_HTTP_FAILURE_LINES, IPXE_FAILURE_LINES],
        ),
        // The PXE attempts before HTTP Boot end with lines of their own
        // (PXE-E.., the boot manager's "failed to load" of their option),
        // which do not end the chain.
        Firmware::UefiChain => (
            BOOT_OK_MARKER,
            &[EDK2_HTTP_ERROR_LINES, CHAIN_END_LINES, IPXE_FAILURE_LINES],
        ),
    };
    let ok = booted.unwrap_or(ok);
    let wrap = (firmware == Firmware::Bios).then_some(BIOS_COLUMNS);
    // Line by line, first decisive line wins.
    for (line, finished) in lines(&plain(text), wrap) {
        let full_row = wrap.is_some_and(|w| line.chars().count() == w);
        let finished = finished && !full_row;
        let line = line.trim();
        if line.contains(ok) {
            let c = Console {
                booted: true,
                line: line.to_owned(),
            };
            return Some((c, finished));
        }
        if failures
            .iter()
            .flat_map(|f| f.iter())
            .any(|f| line.contains(f))
        {
            let c = Console {
                booted: false,
                line: line.to_owned(),
            };
            return Some((c, finished));
        }
    }
    None
}

/// The lines of a [`plain`] text, each with whether a line break ends it;
/// with `wrap`, a line of that many columns and the next are one (the
/// screen wrapped it).
fn lines(text: &str, wrap: Option<usize>) -> Vec<(String, bool)> {
    let parts: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<(String, bool)> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let ended = i + 1 < parts.len();
        match out.last_mut() {
            Some((prev, prev_ended)) if wrap.is_some_and(|w| prev.chars().count() == w) => {
                prev.push_str(part);
                *prev_ended = ended;
            }
            _ => out.push(((*part).to_owned(), ended)),
        }
    }
    out
}

/// The console text as a screen shows it, line by line: ANSI control
/// sequences removed, a carriage return going back to the start of the
/// same line (what follows writes over it), a cursor move placing the
/// column, and a cursor move to another row read as a line break (EFI
/// loaders such as syslinux.efi place each character with one; pxelinux
/// may write a line's first character, return and place the rest).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line: Vec<char> = Vec::new();
    let mut col = 0;
    let mut row: Option<u32> = None;
    let end_line = |line: &mut Vec<char>, out: &mut String| {
        out.extend(line.drain(..));
        out.push('\n');
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                end_line(&mut line, &mut out);
                col = 0;
                // At the last row the screen scrolls: the row stays.
                row = row.map(|r| (r + 1).min(SCREEN_ROWS));
                continue;
            }
            '\r' => {
                col = 0;
                continue;
            }
            '\u{1b}' => {}
            c => {
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.resize(col, ' ');
                    line.push(c);
                }
                col += 1;
                continue;
            }
        }
        if chars.peek() != Some(&'[') {
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut fin = None;
        for c in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                fin = Some(c);
                break;
            }
            params.push(c);
        }
        if matches!(fin, Some('H' | 'f')) {
            let mut p = params.split(';').map(|v| v.parse::<u32>().ok());
            let r = p.next().flatten().unwrap_or(1);
            let c = p.next().flatten().unwrap_or(1);
            if row.is_some_and(|old| old != r) {
                end_line(&mut line, &mut out);
            }
            row = Some(r);
            col = c.saturating_sub(1) as usize;
        }
    }
    out.extend(line);
    out
}

/// qemu's arguments for a client with `firmware` and `mac`; UEFI's
/// variable store is copied to `vars` (each boot starts from the default).
pub fn qemu_args(
    serial: &Path,
    mac: &str,
    firmware: Firmware,
    vars: Option<&Path>,
) -> Result<Vec<String>> {
    let mut a: Vec<String> = [
        "-name",
        "pxe-lab-client",
        "-accel",
        "tcg",
        "-m",
        "256",
        "-nographic",
        "-monitor",
        "none",
        "-nodefaults",
        "-serial",
        &format!("file:{}", serial.display()),
        "-no-reboot",
        "-netdev",
        &format!("tap,id=n0,ifname={CLIENT_TAP},script=no,downscript=no"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match firmware {
        Firmware::Bios => a.extend([
            "-boot".to_owned(),
            "n".to_owned(),
            "-device".to_owned(),
            format!("e1000,netdev=n0,mac={mac}"),
        ]),
        Firmware::Uefi
        | Firmware::UefiHttp
        | Firmware::Uefi6
        | Firmware::UefiHttp6
        | Firmware::UefiChain => {
            let vars = vars.context("UEFI needs a variable store path")?;
            std::fs::copy(OVMF_VARS, vars).with_context(|| {
                format!("copying {OVMF_VARS} (package ovmf) to {}", vars.display())
            })?;
            a.extend([
                "-drive".to_owned(),
                format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
                "-drive".to_owned(),
                format!("if=pflash,format=raw,file={}", vars.display()),
                "-device".to_owned(),
                format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=1,romfile="),
            ]);
            let fw_cfg: &[&str] = match firmware {
                Firmware::UefiHttp => &HTTP_BOOT_FW_CFG,
                Firmware::Uefi6 => &PXE6_FW_CFG,
                Firmware::UefiHttp6 => &HTTP6_BOOT_FW_CFG,
                _ => &[],
            };
            for c in fw_cfg {
                a.extend(["-fw_cfg".to_owned(), (*c).to_owned()]);
            }
            if firmware == Firmware::UefiHttp6 {
                a.extend(HTTP6_BOOT_WAIT.iter().map(|s| s.to_string()));
            }
        }
    }
    Ok(a)
}

impl Lab {
    /// Starts the qemu iPXE client (TCG, -nographic, serial console to
    /// [`Lab::serial_log`], e1000 with [`CLIENT_MAC`] on tap0 in [`CLIENT_NS`]).
    pub fn boot_client(&mut self) -> Result<()> {
        self.boot_client_as(CLIENT_MAC)
    }

    /// [`boot_client`](Self::boot_client) with another MAC address: another
    /// machine on the segment.
    pub fn boot_client_as(&mut self, mac: &str) -> Result<()> {
        self.boot(Firmware::Bios, mac)
    }

    /// Starts a client with `firmware` and `mac` (qemu, TCG, serial console
    /// to [`Lab::serial_log`], on tap0 in the client namespace).
    pub fn boot(&mut self, firmware: Firmware, mac: &str) -> Result<()> {
        if let Some(c) = &self.client {
            bail!("the client is already running (pid {})", c.pid());
        }
        let qemu = find_program("qemu-system-x86_64", "qemu-system-x86 ipxe-qemu")?;
        let serial = self.serial_log();
        match fs::remove_file(&serial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing old {}", serial.display()));
            }
            _ => {}
        }
        let mut cmd = netns_command(&self.names.cli, &qemu);
        cmd.args(qemu_args(
            &serial,
            mac,
            firmware,
            Some(&self.dir.join("ovmf-vars.fd")),
        )?);
        self.client_firmware = firmware;
        let log = self.dir.join("qemu.log");
        let mut p = spawn("client", cmd, &log)?;
        // qemu creates the serial file once its chardevs (and the tap) are open.
        let ready = wait_ready(p.pid(), &log, "qemu", Duration::from_secs(10), |_| {
            serial.exists()
        });
        if let Err(e) = ready {
            let _ = terminate(&mut p, libc::SIGTERM, Duration::from_secs(2));
            return Err(e);
        }
        self.client = Some(p);
        self.write_state()
    }

    /// Polls the serial log until [`BOOT_OK_MARKER`] appears (`Ok(true)`), or
    /// a known failure line appears, qemu exits, or `timeout` passes
    /// (`Ok(false)`). The client keeps running; see [`Lab::stop_client`].
    pub fn wait_client(&self, timeout: Duration) -> Result<bool> {
        Ok(self.wait_console(timeout, None)?.booted)
    }

    /// Polls the serial log until the firmware says how its boot went (see
    /// [`read_console`]; iPXE's lines on UEFI when the servers hand it
    /// ipxe.efi, [`Servers::ipxe_on_uefi`](super::Servers::ipxe_on_uefi)),
    /// qemu exits, or `timeout` passes (then the line is empty and
    /// `booted` false). A decisive line still being written gets up to a
    /// second to be finished. The client keeps running.
    pub fn wait_console(&self, timeout: Duration, booted: Option<&str>) -> Result<Console> {
        let Some(client) = &self.client else {
            bail!("no client was booted (call boot_client first)");
        };
        let serial = self.serial_log();
        let deadline = Instant::now() + timeout;
        // Since when the decisive line has been there unfinished.
        let mut unfinished: Option<Instant> = None;
        loop {
            let bytes = fs::read(&serial).unwrap_or_default();
            let decided = decide(
                self.client_firmware,
                self.servers.ipxe_on_uefi(),
                &String::from_utf8_lossy(&bytes),
                booted,
            );
            let over =
                !is_alive(client.pid(), Some(client.start_time)) || Instant::now() >= deadline;
            match decided {
                Some((c, true)) => return Ok(c),
                Some((c, false)) => {
                    let since = *unfinished.get_or_insert_with(Instant::now);
                    if over || since.elapsed() >= LINE_GRACE {
                        return Ok(c);
                    }
                }
                None if over => {
                    return Ok(Console {
                        booted: false,
                        line: String::new(),
                    });
                }
                None => {}
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Kills the qemu client (if running) and reaps it.
    pub fn stop_client(&mut self) -> Result<()> {
        let Some(mut p) = self.client.take() else {
            return Ok(());
        };
        let res = terminate(&mut p, libc::SIGTERM, Duration::from_secs(3));
        self.write_state()?;
        res.map(|_| ())
    }

    /// The client's serial console log.
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join("client-serial.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_chains_are_read_from_ipxe() {
        // SeaBIOS's console wraps iPXE's line at 80 columns.
        let bios = "chain.ipxe : 68 bytes [script]\r\n\
                    http://10.77.10.1/stage2.ipxe... No such file or directory (http://ipxe.org/2d0c\r\n\
                    613b)\r\nLAB-CHAIN-FAILED\r\n";
        let line =
            "http://10.77.10.1/stage2.ipxe... No such file or directory (http://ipxe.org/2d0c613b)";
        assert_eq!(
            decide(Firmware::Bios, false, bios, None),
            Some((
                Console {
                    booted: false,
                    line: line.into()
                },
                true
            ))
        );
        // The wrapped row alone: not finished yet.
        let cut = &bios[..bios.find("613b").unwrap()];
        assert_eq!(
            decide(Firmware::Bios, false, cut, None).map(|(c, done)| (c.booted, done)),
            Some((false, false))
        );
        assert_eq!(
            decide(Firmware::Bios, false, "LAB-BOOT-OK", None).map(|(_, done)| done),
            Some(false)
        );
        // OVMF downloading ipxe.efi is no boot yet; iPXE's lines decide.
        let efi = "  NBP file downloaded successfully.\r\n\
                   iPXE initialising devices...ok\r\n\
                   http://10.77.10.1/boot.ipxe... Connection reset (http://ipxe.org/0f0a6095)\r\n\
                   No more network devices\r\n";
        assert!(
            read_console(Firmware::Uefi, false, efi, None)
                .unwrap()
                .booted
        );
        assert_eq!(
            read_console(Firmware::Uefi, true, efi, None),
            Some(Console {
                booted: false,
                line: "http://10.77.10.1/boot.ipxe... Connection reset (http://ipxe.org/0f0a6095)"
                    .into()
            })
        );
        let ok = "  NBP file downloaded successfully.\r\nhttp://10.77.10.1/stage2.ipxe... ok\r\n\
                  LAB-BOOT-OK\r\n";
        assert!(read_console(Firmware::Uefi, true, ok, None).unwrap().booted);
    }

    #[test]
    fn consoles_are_read_per_firmware() {
        let ipxe = "Configuring (net0 52:54:00:77:00:10)...... ok\r\n\
                    Nothing to boot: No such file or directory (2d03e13b)\r\n";
        assert_eq!(
            read_console(Firmware::Bios, false, ipxe, None),
            Some(Console {
                booted: false,
                line: "Nothing to boot: No such file or directory (2d03e13b)".into()
            })
        );
        let edk2 = ">>Start PXE over IPv4.\r\n  Station IP address is 10.77.10.100\r\n\
                    \r\n  PXE-E16: No valid offer received.\r\nBdsDxe: failed to load Boot0001\r\n";
        let c = read_console(Firmware::Uefi, false, edk2, None).unwrap();
        assert!(!c.booted);
        assert_eq!(c.line, "PXE-E16: No valid offer received.");
        let ok = " Downloading NBP file...\r\n\r\n  NBP file downloaded successfully.\r\n";
        assert!(
            read_console(Firmware::Uefi, false, ok, None)
                .unwrap()
                .booted
        );
        assert_eq!(
            read_console(Firmware::Uefi, false, ">>Start PXE over IPv4.", None),
            None
        );
        // PXE over IPv6: its TFTP error ends it; on the whole chain, the
        // PXE attempts' errors do not, HTTP Boot's iPXE does.
        let pxe6 = ">>Start PXE over IPv6.\r\n  Station IP address is FD77:10:0:0:0:0:0:1C5\r\n\r\n\
                    \r\n  PXE-E23: Client received TFTP error from server.\r\n";
        let c = read_console(Firmware::Uefi6, false, pxe6, None).unwrap();
        assert_eq!(
            (c.booted, c.line.as_str()),
            (false, "PXE-E23: Client received TFTP error from server.")
        );
        assert_eq!(read_console(Firmware::UefiChain, false, pxe6, None), None);
        let chain = format!("{pxe6}>>Start HTTP Boot over IPv4.....\r\nLAB-BOOT-OK\r\n");
        assert!(
            read_console(Firmware::UefiChain, false, &chain, None)
                .unwrap()
                .booted
        );
        // syslinux.efi places each character, then the firmware goes on.
        let efi = "My IP is 10.77.10.145\r\n\u{1b}[17;01HO\u{1b}[17;02H\u{1b}[17;02HK\
                   \u{1b}[18;01HBdsDxe: failed to start Boot0001: Load Error\r\n";
        assert_eq!(
            read_console(Firmware::Uefi, false, efi, Some("OK")),
            Some(Console {
                booted: true,
                line: "OK".into()
            })
        );
        // The same at the screen's last row (a local run): the row before
        // placed there too, and the line break between them scrolled.
        let bottom = "PXELINUX \u{1b}[25;09H\u{1b}[25;10H6.04 PXE 20200816\r\r\n\
                      L\r\u{1b}[25;02HAB-PXELINUX-OK\r\nNo bootable device.\r\n";
        assert!(
            read_console(Firmware::Bios, false, bottom, Some("LAB-PXELINUX-OK"))
                .unwrap()
                .booted
        );
        // pxelinux on SeaBIOS (a CI run): the line's first character, a
        // carriage return, then the rest placed from column 2.
        let bios = "PXELINUX 6.04 PXE 20200816\r\nL\r\u{1b}[25;02HAB-PXELINUX-OK\r\n\
                    Booting from local disk...\r\nNo bootable device.\r\n";
        assert_eq!(
            read_console(Firmware::Bios, false, bios, Some("LAB-PXELINUX-OK")),
            Some(Console {
                booted: true,
                line: "LAB-PXELINUX-OK".into()
            })
        );
    }
}
