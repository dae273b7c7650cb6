//! The lab's PXE client: qemu with real firmware, and what its console
//! says about the boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{BOOT_OK_MARKER, CLIENT_MAC, CLIENT_TAP, Lab};
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
}

impl Firmware {
    pub fn label(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

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
];

/// EDK2: the IPv4 PXE boot option downloaded its boot file.
const EDK2_BOOTED: &str = "NBP file downloaded successfully";
/// EDK2 lines that end the IPv4 PXE attempt: its error codes, or the next
/// boot option starting.
const EDK2_FAILURE_LINES: &[&str] = &["PXE-E", ">>Start PXE over IPv6", ">>Start HTTP Boot"];

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
/// (a loader further down the chain prints it).
pub fn read_console(firmware: Firmware, text: &str, booted: Option<&str>) -> Option<Console> {
    let (ok, failures) = match firmware {
        Firmware::Bios => (BOOT_OK_MARKER, IPXE_FAILURE_LINES),
        Firmware::Uefi => (EDK2_BOOTED, EDK2_FAILURE_LINES),
    };
    let ok = booted.unwrap_or(ok);
    let text = plain(text);
    // Line by line, first decisive line wins.
    for line in text.split(['\r', '\n']) {
        let line = line.trim();
        if line.contains(ok) {
            return Some(Console {
                booted: true,
                line: line.to_owned(),
            });
        }
        if failures.iter().any(|f| line.contains(f)) {
            return Some(Console {
                booted: false,
                line: line.to_owned(),
            });
        }
    }
    None
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
                row = row.map(|r| r + 1);
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
        Firmware::Uefi => {
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
    /// [`read_console`]), qemu exits, or `timeout` passes (then the
    /// line is empty and `booted` false). The client keeps running.
    pub fn wait_console(&self, timeout: Duration, booted: Option<&str>) -> Result<Console> {
        let Some(client) = &self.client else {
            bail!("no client was booted (call boot_client first)");
        };
        let serial = self.serial_log();
        let deadline = Instant::now() + timeout;
        loop {
            let bytes = fs::read(&serial).unwrap_or_default();
            if let Some(c) = read_console(
                self.client_firmware,
                &String::from_utf8_lossy(&bytes),
                booted,
            ) {
                return Ok(c);
            }
            if !is_alive(client.pid(), Some(client.start_time)) || Instant::now() >= deadline {
                return Ok(Console {
                    booted: false,
                    line: String::new(),
                });
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
    fn consoles_are_read_per_firmware() {
        let ipxe = "Configuring (net0 52:54:00:77:00:10)...... ok\r\n\
                    Nothing to boot: No such file or directory (2d03e13b)\r\n";
        assert_eq!(
            read_console(Firmware::Bios, ipxe, None),
            Some(Console {
                booted: false,
                line: "Nothing to boot: No such file or directory (2d03e13b)".into()
            })
        );
        let edk2 = ">>Start PXE over IPv4.\r\n  Station IP address is 10.77.10.100\r\n\
                    \r\n  PXE-E16: No valid offer received.\r\nBdsDxe: failed to load Boot0001\r\n";
        let c = read_console(Firmware::Uefi, edk2, None).unwrap();
        assert!(!c.booted);
        assert_eq!(c.line, "PXE-E16: No valid offer received.");
        let ok = " Downloading NBP file...\r\n\r\n  NBP file downloaded successfully.\r\n";
        assert!(read_console(Firmware::Uefi, ok, None).unwrap().booted);
        assert_eq!(
            read_console(Firmware::Uefi, ">>Start PXE over IPv4.", None),
            None
        );
        // syslinux.efi places each character, then the firmware goes on.
        let efi = "My IP is 10.77.10.145\r\n\u{1b}[17;01HO\u{1b}[17;02H\u{1b}[17;02HK\
                   \u{1b}[18;01HBdsDxe: failed to start Boot0001: Load Error\r\n";
        assert_eq!(
            read_console(Firmware::Uefi, efi, Some("OK")),
            Some(Console {
                booted: true,
                line: "OK".into()
            })
        );
        // pxelinux on SeaBIOS (a CI run): the line's first character, a
        // carriage return, then the rest placed from column 2.
        let bios = "PXELINUX 6.04 PXE 20200816\r\nL\r\u{1b}[25;02HAB-PXELINUX-OK\r\n\
                    Booting from local disk...\r\nNo bootable device.\r\n";
        assert_eq!(
            read_console(Firmware::Bios, bios, Some("LAB-PXELINUX-OK")),
            Some(Console {
                booted: true,
                line: "LAB-PXELINUX-OK".into()
            })
        );
    }
}
