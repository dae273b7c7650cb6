//! The kernel programs' own records of rare conditions (the ring buffer
//! full, a table insert failing, a stage handed an impossible argument),
//! written with aya-log and shown by the agent at debug level. Off unless
//! asked for (`--kernel-log`): the level is set when the programs load, and
//! at level off each record site costs one load and a branch on a path
//! that is rare anyway.

use aya::Ebpf;
use aya_log::EbpfLogger;
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

/// The `log` records of one interface's programs, as tracing events
/// (target `pxe_monitor::kernel`).
pub struct KernelLog {
    interface: String,
}

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        debug!(
            target: "pxe_monitor::kernel",
            interface = self.interface,
            kernel_level = %record.level(),
            "{}",
            record.args()
        );
    }

    fn flush(&self) {}
}

/// The level the programs are loaded with: `Debug` (every record) or
/// nothing.
pub fn level(enabled: bool) -> u8 {
    if enabled {
        aya_log::Level::Debug as u8
    } else {
        0
    }
}

/// Starts reading the records of `ebpf`'s programs (call after loading).
pub fn reader(ebpf: &mut Ebpf, interface: &str) -> Option<EbpfLogger<KernelLog>> {
    let logger = KernelLog {
        interface: interface.to_owned(),
    };
    match EbpfLogger::init_with_logger(ebpf, logger) {
        Ok(l) => Some(l),
        Err(e) => {
            warn!(interface, error = %e, "the kernel programs' records cannot be read");
            None
        }
    }
}

/// Forwards the records until the task is dropped.
pub async fn forward(logger: EbpfLogger<KernelLog>) {
    // SAFETY: the logger owns its ring buffer's file descriptor, which stays
    // open and the same for as long as the logger lives, i.e. inside the
    // AsyncFd until it is dropped.
    let mut fd = match unsafe { AsyncFd::register(logger) } {
        Ok(fd) => fd,
        Err(e) => {
            warn!(error = %e, "cannot poll the kernel programs' records");
            return;
        }
    };
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
