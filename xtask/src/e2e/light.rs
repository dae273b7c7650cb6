//! What the boot storm and the IP phone share: a lab whose clients are
//! light ones (busybox udhcpc and atftp, each in its own namespace on the
//! client segment) with pxe-monitor on the DHCP/TFTP server's interface and
//! a capture of the segment, and the udhcpc handler that hands the lease to
//! the client's next step.

use std::{fs, net::SocketAddr, path::Path, path::PathBuf};

use anyhow::{Context as _, Result};

use crate::{
    agent::{self, Agent},
    lab::{self, Lab, Servers},
    scrape,
};

/// The shell handler busybox udhcpc runs: on "bound", configure the address
/// and write the next server and boot file to `$LEASE_FILE` (one line:
/// `SIADDR BOOT_FILE`).
const UDHCPC_HANDLER: &str = "#!/bin/sh\n\
    [ \"$1\" = bound ] || exit 0\n\
    ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n\
    echo \"$siaddr $boot_file\" > \"$LEASE_FILE\"\n";

/// A lab with `clients` light clients, pxe-monitor watching the server.
pub(super) struct LightLab {
    pub lab: Lab,
    pub agent: Agent,
    pub listen: SocketAddr,
    /// The client segment's capture.
    pub pcap: PathBuf,
    /// The agent's metrics before any client started.
    pub before: Vec<scrape::Sample>,
    /// Each client's namespace and MAC.
    pub clients: Vec<(String, String)>,
    /// The udhcpc handler (`-s`).
    pub handler: PathBuf,
    /// The namespace of the planted-traffic link, when asked for (the
    /// agent watches its server end too).
    pub planted: Option<String>,
}

impl LightLab {
    /// The lab, `clients` light clients and the agent; with `planted`, a
    /// link for planted traffic too, which the agent also watches.
    pub fn up(
        bin: &Path,
        instance: u16,
        dir: &Path,
        servers: Servers,
        clients: usize,
        planted: bool,
    ) -> Result<Self> {
        fs::create_dir_all(dir)?;
        let mut lab = Lab::up_with(&dir.join("lab"), instance, servers).context("lab up")?;
        let pcap = dir.join("segment.pcap");
        lab.start_capture_on_segment(&pcap)?;
        let planted = planted.then(|| lab.add_planted_link()).transpose()?;
        let extra: &[&str] = if planted.is_some() {
            &["--interface", lab::PLANT_IF, "--recent-sessions", "20000"]
        } else {
            &[]
        };
        let listen = agent::free_port()?;
        let agent = Agent::start_logged(
            bin,
            &lab.names.srv,
            lab::SERVER_IF,
            listen,
            extra,
            &dir.join("pxe-monitor.log"),
        )?;
        let before = agent.metrics()?;
        let clients = lab.add_light_clients(clients)?;
        let handler = dir.join("udhcpc-handler.sh");
        fs::write(&handler, UDHCPC_HANDLER)?;
        fs::set_permissions(
            &handler,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        Ok(LightLab {
            lab,
            agent,
            listen,
            pcap,
            before,
            clients,
            handler,
            planted,
        })
    }

    /// Stops the agent and the capture, and removes the lab.
    pub fn down(mut self) -> Result<()> {
        self.agent.stop()?;
        self.lab.stop_capture()?;
        self.lab.down()
    }
}
