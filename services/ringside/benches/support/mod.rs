//! Support for the gateway benchmark: a shared clock, synthetic transcripts,
//! the stamping proxy, the product wired like the monolith, and clients.

pub mod client;
pub mod clock;
pub mod product;
pub mod proxy;
pub mod transcript;

pub use ringside_testkit::cpu::{process_cpu_seconds, threads_cpu_seconds};
