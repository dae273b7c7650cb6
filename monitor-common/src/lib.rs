//! Wire formats and classification shared by the kernel programs and the host.
//!
//! Everything here is `no_std` and allocation-free, so the same code runs in
//! the XDP/TC programs (reading packet memory checked against `data_end`),
//! in host unit tests and when reading capture files (reading a slice).
//! The only thing that differs between the two sides is the [`Frame`]
//! implementation.
//!
//! Layers, each importing only the ones above it in this list (check with
//! `python3 ../shared/tools/import-circles.py monitor-common/src`):
//! - [`frame`]: how the stages read bytes out of a frame;
//! - [`wire`]: views of each header, and the [`ParseError`] they fail with;
//! - [`counters`]: traffic classes, directions, DHCP types, the layout of
//!   the counter maps;
//! - [`stage`]: what crosses between the kernel's stages, typed and packed;
//! - [`classify`](mod@classify): the stages' reading of one frame;
//! - [`flow`]: TFTP transfers, followed across packets;
//! - [`conn`]: boot clients' web connections, followed across segments;
//! - [`event`]: the ring-buffer records (imports nothing);
//! - [`report`]: the records built from what the stages found.
//!
//! Inside the crate, paths name the module that defines an item
//! (`crate::counters::Class`, not the re-export `crate::Class`), so that
//! every dependency shows.
#![no_std]
// `asm!` on the BPF target, for `frame::opaque` (the eBPF build is nightly).
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

pub mod classify;
pub mod conn;
pub mod counters;
pub mod event;
pub mod flow;
pub mod frame;
pub mod report;
pub mod stage;
#[cfg(test)]
mod testing;
pub mod wire;

pub use classify::{Classification, classify};
pub use counters::{Class, DhcpType, Direction, Traffic};
pub use frame::Frame;
pub use wire::ParseError;
