//! Project tasks (`cargo xtask ...`): set-up, the network-namespace lab,
//! the demo and the test runner. A library too, so that the end-to-end test
//! in `tests/` drives the same lab.

pub mod agent;
pub mod bench;
pub mod demo;
pub mod e2e;
pub mod lab;
mod proc;
pub mod prom;
pub mod scrape;
pub mod setup;
pub mod sys;
pub mod test;
pub mod testing;
