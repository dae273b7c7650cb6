//! Wire formats and classification shared by the kernel programs and the host.
//!
//! Everything here is `no_std` and allocation-free, so the same code runs in
//! the XDP/TC programs (reading packet memory checked against `data_end`),
//! in host unit tests and when reading capture files (reading a slice).
//! The only thing that differs between the two sides is the [`Frame`]
//! implementation.
#![no_std]

pub mod classify;
pub mod counters;
pub mod event;
pub mod flow;
pub mod frame;
pub mod stage;
pub mod wire;

pub use classify::{Classification, classify};
pub use counters::{Class, DhcpType, Direction, Traffic};
pub use frame::Frame;
pub use wire::ParseError;
