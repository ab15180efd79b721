//! How blocking calls wait: the C mirror of `shmlane::WaitStrategy`.

use std::time::Duration;

use shmlane::WaitStrategy;

/// How a handle's blocking calls wait: spin for `spin_ns`, then yield the CPU
/// for `yield_ns`, then (if `sleeps`) sleep on the ring's futex, looking at the
/// peers' liveness every `peer_check_ns` (at least 1 ms).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct shmlane_wait_strategy_t {
    /// Nanoseconds of busy polling before yielding (`UINT64_MAX`: no limit).
    pub spin_ns: u64,
    /// Nanoseconds of polling with `sched_yield` before sleeping (`UINT64_MAX`: no limit).
    pub yield_ns: u64,
    /// Non-zero: sleep on the futex after yielding; zero: keep yielding.
    pub sleeps: u8,
    /// Nanoseconds between liveness checks of the peers while asleep.
    pub peer_check_ns: u64,
}

impl From<WaitStrategy> for shmlane_wait_strategy_t {
    fn from(strategy: WaitStrategy) -> Self {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        shmlane_wait_strategy_t {
            spin_ns: nanos(strategy.spin_for()),
            yield_ns: nanos(strategy.yield_for()),
            sleeps: u8::from(strategy.sleeps()),
            peer_check_ns: nanos(strategy.peer_check_interval()),
        }
    }
}

/// Nanoseconds as a duration; `UINT64_MAX` stands for "no limit", as
/// `Duration::MAX` converts to it (the spinning strategy's spin phase).
fn duration_of(nanos: u64) -> Duration {
    if nanos == u64::MAX {
        Duration::MAX
    } else {
        Duration::from_nanos(nanos)
    }
}

impl From<&shmlane_wait_strategy_t> for WaitStrategy {
    fn from(strategy: &shmlane_wait_strategy_t) -> Self {
        WaitStrategy::new(
            duration_of(strategy.spin_ns),
            duration_of(strategy.yield_ns),
        )
        .with_sleep(strategy.sleeps != 0)
        .with_peer_check_interval(duration_of(strategy.peer_check_ns))
    }
}

/// The default strategy: spin 20 µs, yield 50 µs, then sleep on the futex.
#[no_mangle]
pub extern "C" fn shmlane_wait_strategy_default() -> shmlane_wait_strategy_t {
    WaitStrategy::default().into()
}

/// Lowest latency, a core kept busy: spin, then yield, never sleep.
#[no_mangle]
pub extern "C" fn shmlane_wait_strategy_spinning() -> shmlane_wait_strategy_t {
    WaitStrategy::spinning().into()
}

/// No CPU while idle: sleep on the futex at once.
#[no_mangle]
pub extern "C" fn shmlane_wait_strategy_sleeping() -> shmlane_wait_strategy_t {
    WaitStrategy::sleeping().into()
}
