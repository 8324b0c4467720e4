//! Reads socket options off this process's own TCP connections, so a test
//! can check what a library set on sockets it does not hand out (Linux
//! `/proc/self/fd`).

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

/// `TCP_NODELAY` of every TCP connection of this process for which
/// `matches(local, peer)` holds. Listening sockets (no peer) are skipped.
///
/// # Panics
/// When `/proc/self/fd` cannot be read (not Linux).
pub fn tcp_nodelay_flags(matches: impl Fn(SocketAddr, SocketAddr) -> bool) -> Vec<bool> {
    let mut flags = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd (Linux)")
        .flatten()
    {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: `fd` was an open socket of this process a moment ago. It is
        // only queried here; a socket closed meanwhile answers EBADF, and a
        // number reused meanwhile is a socket of this process too.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let addr = |a: std::io::Result<socket2::SockAddr>| a.ok().and_then(|a| a.as_socket());
        let (Some(local), Some(peer)) = (addr(socket.local_addr()), addr(socket.peer_addr()))
        else {
            continue;
        };
        if matches(local, peer)
            && let Ok(on) = socket.tcp_nodelay()
        {
            flags.push(on);
        }
    }
    flags
}
