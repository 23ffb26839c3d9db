//! Waiting on sockets with poll(2), through rustix's safe wrapper. Callers
//! try every operation after each wake-up, so which descriptor woke them does
//! not matter; poll only decides when.

use rustix::event::{PollFd, PollFlags, Timespec};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// What to wait for on one descriptor.
pub fn watch<Fd: AsFd>(fd: &Fd, read: bool, write: bool) -> PollFd<'_> {
    let mut flags = PollFlags::empty();
    if read {
        flags |= PollFlags::IN;
    }
    if write {
        flags |= PollFlags::OUT;
    }
    PollFd::new(fd, flags)
}

/// Whether poll found `fd` readable, closed or failed (a read will not block).
pub fn readable(fd: &PollFd<'_>) -> bool {
    fd.revents()
        .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
}

/// Whether the other end closed or the socket failed (poll reports this
/// even for a descriptor watched for nothing).
pub fn hung_up(fd: &PollFd<'_>) -> bool {
    fd.revents().intersects(PollFlags::HUP | PollFlags::ERR)
}

/// Sleeps until one of `fds` is ready or `timeout` passes.
pub fn wait(fds: &mut [PollFd<'_>], timeout: Duration) -> io::Result<()> {
    let timeout = Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    match rustix::event::poll(fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
