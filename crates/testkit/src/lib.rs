//! Test support shared by Ringside's test suites (a dev-dependency only).
//!
//! * [`corpus`]: the real-Asterisk AMI corpus beside the checkout.
//! * [`TestBus`]: a bus of either implementation, isolated per test by a
//!   random prefix on stream, subject and bucket names, and cleaned up when
//!   dropped. The NATS one fails (never skips) without a server.
//! * [`NatsServer`]: a private nats-server on a free port, for tests that
//!   stop and restart the server.
//! * [`sockets`]: socket options of this process's own connections.
//! * [`cpu`]: CPU time of this process and its named threads (benchmarks).

pub mod corpus;
pub mod cpu;
mod interposed;
mod nats_server;
pub mod sockets;
mod test_bus;

pub use interposed::{InterposedBus, Interposer};
pub use nats_server::NatsServer;
pub use test_bus::{TestBus, nats_url, random_prefix, test_retention};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}
