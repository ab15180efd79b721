//! Blocking waits: spin, then yield, then sleep on a futex in the mapping.
//!
//! Each direction has a wait line in the header (0: data available, slept on by
//! consumers; 1: space available, slept on by producers). Sleepers announce
//! themselves and re-check after a SeqCst fence; wakers pay that fence only
//! while some handle is registered as a sleeper (arming, acknowledged by epoch).
//! The steps and their orderings are normative in `docs/layout.md#waiting-and-waking`;
//! `loom-tests/tests/wait.rs` models them.
//!
//! A peer that dies never wakes anyone, so every sleep is bounded by the
//! strategy's peer-check interval, after which the peer's lock is tested again;
//! a wake by a live peer that leaves the sleeper blocked looks for a dead owner
//! at once too (an MPMC sleeper woken by a commit or release behind a slot whose
//! owner died must not wait out another interval). A nap that runs out is also
//! when a sleeper looks at the ring file's size, so a truncated file gives
//! [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) instead of SIGBUS.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Role};
use crate::layout::{self, owner_parts, role_code, STATE_ACTIVE};
use crate::platform::{Host, Platform};
use crate::region::Region;
use crate::shm::Shared;
use crate::sync::{fence, spin_loop, Arc, AtomicU32, AtomicU64, Ordering};

/// How a blocking call waits: spin, then yield, then (optionally) sleep.
///
/// The default spins for 20 µs, yields for 50 µs, then sleeps on the ring's
/// futex, checking the peer's liveness every 50 ms while asleep.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use shmlane::WaitStrategy;
///
/// // Lowest latency: busy-poll, never sleep (burns a core while waiting).
/// let spinning = WaitStrategy::spinning();
/// assert!(!spinning.sleeps());
/// // Least CPU: sleep at once.
/// let sleeping = WaitStrategy::sleeping();
/// assert_eq!(sleeping.spin_for(), Duration::ZERO);
/// // Anything in between.
/// let custom = WaitStrategy::default()
///     .with_spin_for(Duration::from_micros(5))
///     .with_yield_for(Duration::ZERO)
///     .with_peer_check_interval(Duration::from_millis(10));
/// assert!(custom.sleeps());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitStrategy {
    spin_for: Duration,
    yield_for: Duration,
    sleeps: bool,
    peer_check_interval: Duration,
}

/// Shortest interval between peer checks while asleep.
const MIN_PEER_CHECK_INTERVAL: Duration = Duration::from_millis(1);
/// First nap of a sleeper whose wakers have not all acknowledged it yet; each
/// further nap doubles, up to the peer-check interval.
pub(crate) const FIRST_UNACKNOWLEDGED_NAP: Duration = Duration::from_millis(1);
/// How many spins between two looks at the clock.
const SPINS_PER_CLOCK_READ: u32 = 64;

impl WaitStrategy {
    /// Spin for `spin_for`, yield the CPU for `yield_for`, then sleep on the futex.
    pub const fn new(spin_for: Duration, yield_for: Duration) -> WaitStrategy {
        WaitStrategy {
            spin_for,
            yield_for,
            sleeps: true,
            peer_check_interval: Duration::from_millis(50),
        }
    }

    /// Busy-poll until the wait ends, never yielding nor sleeping: the lowest
    /// latency, at the cost of a core. A handle with this strategy never
    /// registers as a sleeper, so its peers never pay for wake-ups.
    pub const fn spinning() -> WaitStrategy {
        WaitStrategy {
            spin_for: Duration::MAX,
            yield_for: Duration::ZERO,
            sleeps: false,
            peer_check_interval: Duration::from_millis(50),
        }
    }

    /// Sleep on the futex as soon as one re-check finds nothing: no CPU while
    /// waiting, a system call on each side per wake-up.
    pub const fn sleeping() -> WaitStrategy {
        WaitStrategy::new(Duration::ZERO, Duration::ZERO)
    }

    /// The same strategy, spinning for `spin_for` first.
    pub const fn with_spin_for(self, spin_for: Duration) -> WaitStrategy {
        WaitStrategy { spin_for, ..self }
    }

    /// The same strategy, yielding for `yield_for` after spinning.
    pub const fn with_yield_for(self, yield_for: Duration) -> WaitStrategy {
        WaitStrategy { yield_for, ..self }
    }

    /// The same strategy, sleeping after spinning and yielding (`true`) or
    /// yielding for as long as the wait lasts (`false`).
    pub const fn with_sleep(self, sleeps: bool) -> WaitStrategy {
        WaitStrategy { sleeps, ..self }
    }

    /// The same strategy, waking at least every `interval` (at least 1 ms) while
    /// asleep to test whether the peer died: the bound on noticing a SIGKILL.
    pub const fn with_peer_check_interval(self, interval: Duration) -> WaitStrategy {
        let interval = if interval.as_nanos() < MIN_PEER_CHECK_INTERVAL.as_nanos() {
            MIN_PEER_CHECK_INTERVAL
        } else {
            interval
        };
        WaitStrategy {
            peer_check_interval: interval,
            ..self
        }
    }

    /// How long a wait spins before yielding.
    pub const fn spin_for(&self) -> Duration {
        self.spin_for
    }

    /// How long a wait yields before sleeping.
    pub const fn yield_for(&self) -> Duration {
        self.yield_for
    }

    /// Whether a long wait ends up asleep on the futex.
    pub const fn sleeps(&self) -> bool {
        self.sleeps
    }

    /// The longest a sleeper stays asleep without testing its peer's liveness.
    pub const fn peer_check_interval(&self) -> Duration {
        self.peer_check_interval
    }
}

impl Default for WaitStrategy {
    fn default() -> WaitStrategy {
        WaitStrategy::new(Duration::from_micros(20), Duration::from_micros(50))
    }
}

/// One of the two wait lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Consumers sleep here; producers wake it after publishing.
    Data,
    /// Producers sleep here; consumers wake it after releasing.
    Space,
}

impl Line {
    fn offset(self) -> usize {
        match self {
            Line::Data => layout::DATA_WAIT_LINE_OFFSET,
            Line::Space => layout::SPACE_WAIT_LINE_OFFSET,
        }
    }

    /// The role whose handles wake this line.
    fn waker_role(self) -> Role {
        match self {
            Line::Data => Role::Producer,
            Line::Space => Role::Consumer,
        }
    }
}

/// Typed pointers to the words of one wait line, computed once at join.
struct WaitWords {
    futex: NonNull<AtomicU32>,
    waiters: NonNull<AtomicU32>,
    sleepers: NonNull<AtomicU32>,
    epoch: NonNull<AtomicU64>,
    sleeps: NonNull<AtomicU64>,
    wakes: NonNull<AtomicU64>,
}

impl WaitWords {
    fn new(region: &Region, line: Line) -> WaitWords {
        let base = line.offset();
        WaitWords {
            futex: NonNull::from(region.u32_at(base + layout::WAIT_FUTEX)),
            waiters: NonNull::from(region.u32_at(base + layout::WAIT_WAITERS)),
            sleepers: NonNull::from(region.u32_at(base + layout::WAIT_SLEEPERS)),
            epoch: NonNull::from(region.u64_at(base + layout::WAIT_EPOCH)),
            sleeps: NonNull::from(region.u64_at(base + layout::WAIT_SLEEPS)),
            wakes: NonNull::from(region.u64_at(base + layout::WAIT_WAKES)),
        }
    }
}

/// Accessors; the pointers target the region, which the owning handle's
/// `Attached` keeps alive for as long as the handle (and so this struct) lives.
macro_rules! word {
    ($name:ident, $ty:ty) => {
        #[inline(always)]
        fn $name(&self) -> &$ty {
            // SAFETY: points into the region, kept alive by the handle that owns us.
            unsafe { self.$name.as_ref() }
        }
    };
}

impl WaitWords {
    word!(futex, AtomicU32);
    word!(waiters, AtomicU32);
    word!(sleepers, AtomicU32);
    word!(epoch, AtomicU64);
    word!(sleeps, AtomicU64);
    word!(wakes, AtomicU64);

    /// Wakes whoever waits on this line, armed or not: for a handle that
    /// leaves, after its record is marked closed and its lock released.
    fn wake_waiters_on_leave(&self, shared: &Shared) {
        // Ordering: SeqCst fence, the same Dekker pair as in `notify_slow`, with
        // the record's `closed` owner word and its released lock as the
        // "publish".
        fence(Ordering::SeqCst);
        // Ordering: Relaxed; the fence above orders it.
        if self.waiters().load(Ordering::Relaxed) != 0 {
            self.wake_all(shared);
        }
    }

    /// Bumps the futex word and wakes every sleeper on it.
    #[cold]
    fn wake_all(&self, shared: &Shared) {
        // Ordering: Release, pairs with the Acquire load of the futex word in
        // `block_on`: a waiter that reads the bumped value sees our publish.
        self.futex().fetch_add(1, Ordering::Release);
        Host::futex_wake_all(shared, self.futex());
        // Ordering: Relaxed; a statistic.
        self.wakes().fetch_add(1, Ordering::Relaxed);
    }
}

/// The waking half, kept by a handle for the line its publishes feed.
pub(crate) struct Waker {
    words: WaitWords,
    /// This handle's acknowledgement word in its participant record.
    ack: NonNull<AtomicU64>,
    /// The line's epoch as of our last acknowledgement.
    seen_epoch: u64,
    /// Whether some sleeper is registered: then every publish checks for waiters.
    armed: bool,
    /// What `notify` compares the epoch with: `seen_epoch` while disarmed, and
    /// [`ARMED`] (which no epoch of a sound ring reaches) while armed, so that
    /// the common case is one load and one compare.
    expect: u64,
}

/// `Waker::expect` while armed. A hostile peer that sets the epoch to this
/// value delays wake-ups by one peer-check interval at most: every sleep is
/// bounded by it.
const ARMED: u64 = u64::MAX;

impl Waker {
    /// The waker for `line` of a handle that owns participant record `record`.
    /// Call it after the record is claimed.
    pub(crate) fn new(region: &Region, line: Line, record: u32) -> Waker {
        let ack = region.u64_at(region.geometry().record_offset(record) + layout::RECORD_WAKE_ACK);
        let mut waker = Waker {
            words: WaitWords::new(region, line),
            ack: NonNull::from(ack),
            seen_epoch: 0,
            armed: false,
            expect: 0,
        };
        // Ordering: SeqCst fence, paired with the one in `Sleeper::register`:
        // our claim of the record (before this fence) and the sleeper's epoch
        // bump (before its fence) form a Dekker pair, so either the sleeper's
        // scan sees us joined and waits for our acknowledgement, or our epoch
        // load below sees its registration and we arm now.
        fence(Ordering::SeqCst);
        // Ordering: Acquire, pairs with the AcqRel epoch bumps in `Sleeper`:
        // the `sleepers` count behind the epoch is visible to `rearm`.
        let epoch = waker.words.epoch().load(Ordering::Acquire);
        waker.rearm(epoch);
        waker
    }

    /// After a publish: wakes sleepers if any may be asleep. Costs one Relaxed
    /// load and a branch while nobody is registered as a sleeper. `shared` is
    /// taken as the handle's `Arc`, so the fast path never dereferences it.
    #[inline(always)]
    pub(crate) fn notify(&mut self, shared: &Arc<Shared>) {
        // Ordering: Relaxed; only a hint that registrations changed. `rearm`
        // reloads it with Acquire. A stale value delays our acknowledgement, and
        // sleepers do not trust a sleep until they see it.
        let epoch = self.words.epoch().load(Ordering::Relaxed);
        if epoch != self.expect {
            self.notify_slow(shared, epoch);
        }
    }

    #[inline(never)]
    fn notify_slow(&mut self, shared: &Arc<Shared>, epoch: u64) {
        if epoch != self.seen_epoch {
            // Ordering: Acquire, as in `Waker::new`.
            let epoch = self.words.epoch().load(Ordering::Acquire);
            self.rearm(epoch);
        }
        if self.armed {
            // Ordering: SeqCst fence, paired with the one in `block_on` after the
            // waiter's announcement: our publish (before this fence) and its
            // `waiters` increment (before its fence) form a Dekker pair, so either
            // its re-check sees the publish or this load sees it waiting.
            #[cfg(not(shmlane_weaken_wake))]
            fence(Ordering::SeqCst);
            // Built with `--cfg shmlane_weaken_wake` the fence is left out, a
            // deliberate bug (a wake-up can be lost) that the loom models of
            // `loom-tests/tests/wait.rs` must catch: that shows they can fail.
            // Ordering: Relaxed; the fence above orders it.
            if self.words.waiters().load(Ordering::Relaxed) != 0 {
                self.words.wake_all(shared);
            }
        }
    }

    /// Arms or disarms for the registrations as of `epoch`, and acknowledges it.
    fn rearm(&mut self, epoch: u64) {
        // Ordering: Relaxed; the Acquire load of the epoch by the caller makes
        // the count of every registration up to that epoch visible.
        self.armed = self.words.sleepers().load(Ordering::Relaxed) != 0;
        self.seen_epoch = epoch;
        self.expect = if self.armed { ARMED } else { epoch };
        // SAFETY: points into our participant record in the region, which the
        // handle owning this waker keeps alive.
        let ack = unsafe { self.ack.as_ref() };
        // Ordering: Release, pairs with the Acquire load in
        // `Sleeper::wakers_acknowledged`: a sleeper that sees our acknowledgement
        // sees us armed for every later publish, and sees every earlier one.
        ack.store(epoch, Ordering::Release);
    }

    /// Wakes every sleeper, armed or not: called when the handle leaves, after
    /// its record is marked closed, so that sleeping peers notice.
    pub(crate) fn wake_on_leave(&self, shared: &Shared) {
        self.words.wake_waiters_on_leave(shared);
    }
}

/// Undoes the registration and announcement a dead owner of the participant
/// record at `record` (of role code `role`) left on its wait line, as its
/// record's `wait_state` says. The caller holds the record's lock, so nobody
/// else cleans it at the same time.
pub(crate) fn forget_dead_owner(region: &Region, record: usize, role: u64) {
    let line = if role == role_code(Role::Consumer) {
        Line::Data
    } else if role == role_code(Role::Producer) {
        Line::Space
    } else {
        return;
    };
    let state_word = region.u64_at(record + layout::RECORD_WAIT_STATE);
    // Ordering: Relaxed; written by the dead owner, whose writes all happened
    // before the lock we hold was released by its death.
    let state = state_word.load(Ordering::Relaxed);
    let words = WaitWords::new(region, line);
    if state & layout::WAIT_STATE_WAITING != 0 {
        // Ordering: Relaxed, as in `leave_waiters`.
        words.waiters().fetch_sub(1, Ordering::Relaxed);
    }
    if state & layout::WAIT_STATE_REGISTERED != 0 {
        // Ordering: as in `Sleeper::deregister_now`.
        words.sleepers().fetch_sub(1, Ordering::Relaxed);
        words.epoch().fetch_add(1, Ordering::AcqRel);
    }
    // Ordering: Relaxed; only the record's owner (now us) writes it.
    state_word.store(0, Ordering::Relaxed);
}

/// The sleeping half, kept by a handle for the line it waits on.
pub(crate) struct Sleeper {
    words: WaitWords,
    /// This handle's `wait_state` word in its participant record: counts are
    /// raised before the bit is set and the bit cleared before they are
    /// lowered, so a death in between leaves a count too high (harmless: a
    /// waker wakes in vain or stays armed), never one too low.
    wait_state: NonNull<AtomicU64>,
    line: Line,
    strategy: WaitStrategy,
    /// The epoch of our registration as a sleeper, while in a sleeping phase.
    registered: Option<u64>,
}

impl Sleeper {
    /// Called when the handle leaves: wakes the other sleepers of its own
    /// role. A peer of that role that looked for live handles of the other
    /// role while this one was half-way out (record closed, lock still held)
    /// counted it as a possible newcomer and went to sleep; now that the lock
    /// is gone, it must look again, or it would wait a whole peer-check
    /// interval for a `Disconnected` it could report now.
    pub(crate) fn wake_peers_on_leave(&self, shared: &Shared) {
        self.words.wake_waiters_on_leave(shared);
    }

    /// The sleeper for `line` of a handle that owns participant record `record`.
    pub(crate) fn new(region: &Region, line: Line, record: u32) -> Sleeper {
        let wait_state =
            region.u64_at(region.geometry().record_offset(record) + layout::RECORD_WAIT_STATE);
        Sleeper {
            words: WaitWords::new(region, line),
            wait_state: NonNull::from(wait_state),
            line,
            strategy: WaitStrategy::default(),
            registered: None,
        }
    }

    pub(crate) fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    pub(crate) fn set_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
        self.deregister();
    }

    /// Registers as a sleeper (once): wakers arm when they see it.
    pub(crate) fn register(&mut self) -> u64 {
        if let Some(epoch) = self.registered {
            return epoch;
        }
        // Ordering: Relaxed; published by the AcqRel epoch bump below.
        self.words.sleepers().fetch_add(1, Ordering::Relaxed);
        // Ordering: AcqRel; Release pairs with the Acquire epoch loads in
        // `Waker`, so a waker that sees this epoch sees the count above.
        // Wrapping: the epoch lives in shared memory, where a broken peer may
        // have left `u64::MAX` (an overflow check would panic).
        let epoch = self
            .words
            .epoch()
            .fetch_add(1, Ordering::AcqRel)
            .wrapping_add(1);
        // Ordering: SeqCst fence, paired with the one in `Waker::new`: see there.
        fence(Ordering::SeqCst);
        self.set_wait_state(layout::WAIT_STATE_REGISTERED, true);
        self.registered = Some(epoch);
        epoch
    }

    /// Waiting 1 to 3: reads the futex word, announces us as a waiter, and
    /// fences; the caller re-checks the ring next (waiting 4). Returns the
    /// futex value to sleep on. Undo with [`Sleeper::withdraw`].
    pub(crate) fn announce(&self) -> u32 {
        // Ordering: Acquire, pairs with the Release bump in `wake_all`. Read
        // before announcing: any bump after this makes FUTEX_WAIT return at once.
        let futex_value = self.words.futex().load(Ordering::Acquire);
        // Ordering: Relaxed increment, ordered before the re-check by the fence.
        self.words.waiters().fetch_add(1, Ordering::Relaxed);
        self.set_wait_state(layout::WAIT_STATE_WAITING, true);
        // Ordering: SeqCst fence, paired with the one in `Waker::notify_slow`
        // (and `wake_on_leave`): see the module header.
        fence(Ordering::SeqCst);
        futex_value
    }

    /// Withdraws the announcement of [`Sleeper::announce`] (waiting 6).
    pub(crate) fn withdraw(&self) {
        self.set_wait_state(layout::WAIT_STATE_WAITING, false);
        // Ordering: Relaxed; a waker that still counts us only wakes in vain.
        self.words.waiters().fetch_sub(1, Ordering::Relaxed);
    }

    /// The futex word of our line, which wakers bump before `FUTEX_WAKE`.
    pub(crate) fn futex_word(&self) -> &AtomicU32 {
        self.words.futex()
    }

    /// Counts a sleep in the line's statistics.
    pub(crate) fn count_sleep(&self) {
        // Ordering: Relaxed; a statistic.
        self.words.sleeps().fetch_add(1, Ordering::Relaxed);
    }

    /// Records in our participant record what we hold on the wait line.
    fn set_wait_state(&self, bit: u64, on: bool) {
        // SAFETY: points into our participant record, in the region the handle
        // owning this sleeper keeps alive.
        let word = unsafe { self.wait_state.as_ref() };
        // Ordering: Relaxed; only we write it, and only a claimer of our record
        // after our death reads it (`forget_dead_owner`).
        let state = word.load(Ordering::Relaxed);
        let state = if on { state | bit } else { state & !bit };
        word.store(state, Ordering::Relaxed);
    }

    /// Gives up the registration, if any. Handles call it when they drop,
    /// before the region can be unmapped.
    #[inline]
    pub(crate) fn deregister(&mut self) {
        if self.registered.is_some() {
            self.deregister_now();
        }
    }

    /// Drops the registration without touching the mapping, whose pages may
    /// be gone: the ring's file was found truncated, and the ring is lost.
    pub(crate) fn forget_registration(&mut self) {
        self.registered = None;
    }

    #[cold]
    fn deregister_now(&mut self) {
        if self.registered.take().is_some() {
            self.set_wait_state(layout::WAIT_STATE_REGISTERED, false);
            // Ordering: Relaxed; published by the epoch bump below.
            self.words.sleepers().fetch_sub(1, Ordering::Relaxed);
            // Ordering: AcqRel, as in `register`: wakers disarm once they see it.
            self.words.epoch().fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether every active participant that wakes our line has acknowledged
    /// `epoch`, so that its publishes are sure to wake us.
    pub(crate) fn wakers_acknowledged(&self, region: &Region, epoch: u64) -> bool {
        let geometry = region.geometry();
        let waker_role = role_code(self.line.waker_role());
        (0..geometry.participant_count).all(|index| {
            let record = geometry.record_offset(index);
            // Ordering: Acquire, pairs with the Release (AcqRel) claim in
            // `claim_owner_word`: a new owner's reset of `wake_ack` is visible.
            let owner = region
                .u64_at(record + layout::RECORD_OWNER)
                .load(Ordering::Acquire);
            let (_, role, state) = owner_parts(owner);
            if role != waker_role || state != STATE_ACTIVE {
                return true;
            }
            // Ordering: Acquire, pairs with the Release store in `Waker::rearm`.
            region
                .u64_at(record + layout::RECORD_WAKE_ACK)
                .load(Ordering::Acquire)
                >= epoch
        })
    }
}

/// A handle that can block: what [`block_on`] needs of it.
pub(crate) trait Blocking {
    /// The ring's shared state.
    fn shared(&self) -> &Shared;
    /// The ring's shared state, to keep it alive (an async wait's driver does).
    #[cfg(all(feature = "tokio", not(loom)))]
    fn shared_arc(&self) -> &Arc<Shared>;
    /// The sleeping half of the handle.
    fn sleeper(&self) -> &Sleeper;
    /// The sleeping half of the handle, to register it.
    fn sleeper_mut(&mut self) -> &mut Sleeper;
    /// Whether the handle's look at its peers notices a peer's leaving at once
    /// (SPSC: the peer's owner word changes), rather than within its rate limit
    /// (MPMC: leaving does not move the join count its scans key on).
    fn watch_sees_leaving(&self) -> bool;
    /// Makes the next look at the peers test their locks, whatever the rate limit.
    fn look_at_peers_now(&mut self);
    /// Makes the next attempt look at once for a dead owner of the slot it is
    /// blocked by, whatever the grace period (MPMC; nothing for SPSC, which
    /// has no claims to recover). Called after a nap that ran out, and after
    /// a wake that left the handle blocked.
    fn look_for_dead_owners_now(&mut self);
    /// A cheap hint, one load of the peer's position word: `false` when an
    /// attempt would surely find the ring as full or empty as before.
    fn may_be_ready(&self) -> bool;
}

/// When a blocking call gives up.
#[derive(Clone, Copy)]
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|timeout| Instant::now().checked_add(timeout)))
    }

    /// Time left, or `None` without a deadline; zero once passed.
    fn remaining(self, now: Instant) -> Option<Duration> {
        self.0
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Time left as of now, reading the clock only if there is a deadline.
    fn remaining_now(self) -> Option<Duration> {
        self.0
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    fn passed(self, now: Instant) -> bool {
        self.remaining(now) == Some(Duration::ZERO)
    }
}

/// What an attempt found: `Ok(None)` (full or empty) means "wait and try again".
pub(crate) fn must_wait<T>(result: &Result<Option<T>, Error>) -> bool {
    matches!(result, Ok(None))
}

/// Calls `attempt` until it gives something other than `Ok(None)` (full or
/// empty), waiting between calls as the handle's strategy says, for at most
/// `timeout` (`None`: no limit). Returns the attempt's result, or `Ok(None)`
/// when the time ran out.
///
/// A handle registers as a sleeper when a wait first goes to sleep and stays
/// registered while its waits keep ending asleep with success (a ping-pong), so
/// wakers need not re-arm for every message; a blocking call that finds the ring
/// ready without sleeping (a burst has begun), or that fails, gives the
/// registration up.
#[inline]
pub(crate) fn block_on<H: Blocking, T>(
    handle: &mut H,
    timeout: Option<Duration>,
    mut attempt: impl FnMut(&mut H) -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let result = attempt(handle);
    if !must_wait(&result) {
        handle.sleeper_mut().deregister();
        return result;
    }
    wait(handle, timeout, &mut attempt)
}

/// The waiting part of [`block_on`], after a first attempt found nothing.
fn wait<H: Blocking, T>(
    handle: &mut H,
    timeout: Option<Duration>,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let deadline = Deadline::after(timeout);
    let strategy = handle.sleeper().strategy;
    if let Some(result) = spin_then_yield(handle, deadline, strategy, attempt) {
        handle.sleeper_mut().deregister();
        return result;
    }
    let result = sleep_until(handle, deadline, strategy, attempt);
    if !matches!(result, Ok(Some(_))) {
        // Timed out, or the peers are gone: no reason to keep wakers armed.
        handle.sleeper_mut().deregister();
    }
    result
}

/// Spins, then yields, as the strategy says: the final result (`Ok(None)`
/// once the deadline passed), or `None` when it is time to sleep.
fn spin_then_yield<H: Blocking, T>(
    handle: &mut H,
    deadline: Deadline,
    strategy: WaitStrategy,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, Error>,
) -> Option<Result<Option<T>, Error>> {
    if !strategy.spin_for.is_zero() {
        // Poll the position word alone, which stays in our cache until the peer
        // writes it; the full attempt (with its look at the peers' liveness)
        // runs when it moved, and every few rounds anyway.
        // Spinning for good without a deadline never needs the clock.
        let start = (deadline.0.is_some() || strategy.spin_for != Duration::MAX).then(Instant::now);
        let mut spins: u32 = 0;
        loop {
            spin_loop();
            spins = spins.wrapping_add(1);
            if handle.may_be_ready() || spins % SPINS_PER_CLOCK_READ == 0 {
                let result = attempt(handle);
                if !must_wait(&result) {
                    return Some(result);
                }
            }
            if let (Some(start), 0) = (start, spins % SPINS_PER_CLOCK_READ) {
                let now = Instant::now();
                if deadline.passed(now) {
                    return Some(Ok(None));
                }
                if now.duration_since(start) >= strategy.spin_for {
                    break;
                }
            }
        }
    }
    if strategy.sleeps && strategy.yield_for.is_zero() {
        return None;
    }
    // Yield until the yield time is over, or for good if the strategy never sleeps.
    let start = Instant::now();
    loop {
        std::thread::yield_now();
        let result = attempt(handle);
        if !must_wait(&result) {
            return Some(result);
        }
        let now = Instant::now();
        if deadline.passed(now) {
            return Some(Ok(None));
        }
        if strategy.sleeps && now.duration_since(start) >= strategy.yield_for {
            return None;
        }
    }
}

/// The sleeping phase of [`block_on`].
fn sleep_until<H: Blocking, T>(
    handle: &mut H,
    deadline: Deadline,
    strategy: WaitStrategy,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let epoch = handle.sleeper_mut().register();
    if !handle.watch_sees_leaving() {
        // A peer that left before we announced ourselves wakes nobody.
        handle.look_at_peers_now();
    }
    let mut unacknowledged_nap = FIRST_UNACKNOWLEDGED_NAP;
    // Whether the last nap ended by a wake (or a signal) rather than running out.
    let mut woken = false;
    loop {
        let futex_value = handle.sleeper().announce();
        let mut result = attempt(handle);
        if woken && must_wait(&result) {
            // Woken, and still blocked: a live peer moved the ring on, yet what
            // we wait for may sit behind a slot whose owner died, and a dead
            // owner wakes nobody. Look for it now, not a peer-check interval
            // later. A wake that finds what it waited for costs nothing more;
            // one that stays blocked costs a second attempt, and behind a
            // claimed slot one lock test of the claim's owner.
            handle.look_for_dead_owners_now();
            result = attempt(handle);
        }
        if !must_wait(&result) {
            leave_waiters(handle);
            return result;
        }
        let mut nap = strategy.peer_check_interval;
        if let Some(remaining) = deadline.remaining_now() {
            if remaining.is_zero() {
                leave_waiters(handle);
                return Ok(None);
            }
            nap = nap.min(remaining);
        }
        let acknowledged = handle
            .sleeper()
            .wakers_acknowledged(&handle.shared().region, epoch);
        if !acknowledged {
            nap = nap.min(unacknowledged_nap);
            unacknowledged_nap = unacknowledged_nap.saturating_mul(2);
        }
        handle.sleeper().count_sleep();
        let timed_out = Host::futex_wait(
            handle.shared(),
            handle.sleeper().futex_word(),
            futex_value,
            nap,
            acknowledged,
        );
        if timed_out {
            // Nothing woke us for a whole nap (at most once per peer-check
            // interval while nothing happens): a cheap time to look at the
            // file's size before touching the mapping again, where a truncated
            // file's lost pages would raise SIGBUS. Our announcement and
            // registration stay behind in the lost ring. A failing fstat says
            // nothing about the mapping; the next nap looks again.
            match handle.shared().check_size() {
                Err(truncated) if truncated.kind() == ErrorKind::Truncated => {
                    handle.sleeper_mut().forget_registration();
                    return Err(truncated);
                }
                _ => {}
            }
        }
        leave_waiters(handle);
        // A dead peer wakes nobody: after a nap that ran out, look at the
        // peers' locks afresh. A leaving one wakes us, which a watch that does
        // not notice leaving must also be told.
        if timed_out || !handle.watch_sees_leaving() {
            handle.look_at_peers_now();
        }
        if timed_out {
            handle.look_for_dead_owners_now();
        }
        woken = !timed_out;
    }
}

fn leave_waiters<H: Blocking>(handle: &mut H) {
    handle.sleeper().withdraw();
}
