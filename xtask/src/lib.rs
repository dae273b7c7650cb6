//! Project tasks (`cargo xtask ...`): set-up, the network-namespace lab,
//! the demo and the test runner. A library too, so that the end-to-end test
//! in `tests/` drives the same lab.
//!
//! The modules depend one way: `sys` (commands, `ip`, `sysctl`) and `proc`
//! (process supervision, /proc) at the bottom, with `scrape`, `planted` and
//! `pki` (a test CA and bcrypt hashes); `agent`, `prom` and
//! `alertmanager` (pxe-monitor, Prometheus and Alertmanager as children) on
//! them; `lab` on `sys` and `proc`; `e2e`, `demo` and `bench` above the lab;
//! `package` (the Debian package) on `agent` and `sys`, and `unit` (a
//! systemd unit's settings, applied without systemd) on `sys`; `container`
//! (the static binary and the image) and `manifests` (the Kubernetes
//! manifests and their schema validator) on `agent` and `sys`; `fuzz` (the
//! cargo-fuzz targets, run and reported) on `agent` and `setup`; `test`
//! runs it all, and `main.rs` is the command line. Nothing below calls up.

pub mod agent;
pub mod alertmanager;
pub mod bench;
pub mod container;
pub mod demo;
pub mod e2e;
pub mod fuzz;
pub mod lab;
pub mod manifests;
pub mod package;
pub mod pki;
pub mod planted;
mod proc;
pub mod prom;
pub mod scrape;
pub mod setup;
pub mod sys;
pub mod test;
pub mod testing;
pub mod unit;
