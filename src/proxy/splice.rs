//! Zero-copy forwarding for a direction with no toxic: socket → pipe → socket with splice(2),
//! so bulk bytes never enter user space.
//!
//! A copying proxy spends about as much CPU per byte as both ends of a direct connection
//! together; splicing cuts that to a fraction (docs/performance.md). A link takes a pipe only
//! once a direction carries bulk data, so idle or chatty connections cost no extra descriptors.

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use std::io;
use std::os::fd::OwnedFd;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipe capacity asked for; the kernel may give less (the default is 64 KiB).
const CAPACITY: i32 = 1 << 20;

/// A kernel pipe between the two sockets of one direction.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A non-blocking pipe, as large as the kernel allows up to [`CAPACITY`].
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // Past the per-user pipe quota the kernel refuses larger pipes: keep the default then.
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(CAPACITY))
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(64 * 1024);
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Move up to `room` bytes `src` has into the pipe; 0 at end of stream. Cancel-safe:
    /// nothing moves until the splice succeeds.
    pub async fn fill(&self, src: &TcpStream, room: usize) -> io::Result<usize> {
        loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                Ok(splice(src, None, &self.write, None, room, flags())?)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }

    /// Move some of the `held` bytes the pipe holds out to `dst`; how many. Cancel-safe.
    pub async fn drain(&self, dst: &TcpStream, held: usize) -> io::Result<usize> {
        loop {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                Ok(splice(&self.read, None, dst, None, held, flags())?)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}
