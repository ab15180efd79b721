//! The clock that benchmark processes share: `CLOCK_MONOTONIC`, read the same
//! way in every process of the machine, so a timestamp taken by a producer can
//! be subtracted from one taken by a consumer.

/// Nanoseconds of `CLOCK_MONOTONIC`.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call,
    // and CLOCK_MONOTONIC is supported on every Linux, so the call only writes
    // `now` and cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(now.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_does_not_go_back() {
        let first = super::monotonic_ns();
        let second = super::monotonic_ns();
        assert!(first > 0);
        assert!(second >= first);
    }
}
