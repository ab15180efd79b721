//! Async waits (cargo feature `tokio`): a future that waits for a ring the
//! way [`wait::block_on`](crate::wait) does, without parking a thread.
//!
//! A waiting future follows the wait protocol of `docs/layout.md#waiting-and-waking`
//! itself (register, announce, re-check), then, instead of `FUTEX_WAIT`,
//! parks its task's waker with the futex value it read in this process's
//! driver: one thread that sleeps in `futex_waitv` on the futex word of every
//! line some future waits on, plus a private word of its own that a park
//! bumps when the driver must look again. When a word's value differs from
//! the one a future parked with, or the future's nap runs out, the driver
//! wakes the task, which withdraws its announcement and tries again. Why no
//! wake-up is lost: `docs/layout.md#async-waiting`.
//!
//! Cancel safety: a future holds no slot until it completes, and dropping it
//! withdraws its announcement, its parked waker and its registration.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker as TaskWaker};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::platform::os::{futex_waitv, futex_wake_private, FutexWaitv};
use crate::shm::Shared;
use crate::sync::{Arc, AtomicU32, Ordering};
use crate::wait::{must_wait, Blocking, FIRST_UNACKNOWLEDGED_NAP};

/// Waits for `attempt` to give something other than `Ok(None)` (full or
/// empty), as a future; the async form of `wait::block_on` without a
/// timeout (wrap it in the runtime's timeout instead: dropping it is safe).
pub(crate) fn wait_async<H, T, F>(handle: &mut H, attempt: F) -> AsyncWait<'_, H, F>
where
    H: Blocking,
    F: FnMut(&mut H) -> Result<Option<T>, Error> + Unpin,
{
    AsyncWait {
        handle,
        attempt,
        announced: false,
        parked: None,
        slept: false,
        unacknowledged_nap: FIRST_UNACKNOWLEDGED_NAP,
    }
}

/// The future of [`wait_async`].
pub(crate) struct AsyncWait<'a, H: Blocking, F> {
    handle: &'a mut H,
    attempt: F,
    /// Whether our announcement as a waiter stands (waiting 2 to 6).
    announced: bool,
    /// Our waker's place in the driver, while parked.
    parked: Option<Parked>,
    /// Whether this wait parked at least once: then it keeps the handle's
    /// registration when it ends well, as a blocking wait that slept does.
    slept: bool,
    /// The next nap while some waker has not acknowledged our registration.
    unacknowledged_nap: Duration,
}

/// What woke a parked future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The futex word moved on from the value the future parked with.
    Woken,
    /// The future's nap ran out.
    TimedOut,
}

impl<H, T, F> Future for AsyncWait<'_, H, F>
where
    H: Blocking,
    F: FnMut(&mut H) -> Result<Option<T>, Error> + Unpin,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        let mut woken = false;
        if let Some(parked) = &this.parked {
            let Some(outcome) = driver().poll_parked(parked, cx.waker()) else {
                // Polled for another reason (a `select!` sibling): still parked.
                return Poll::Pending;
            };
            this.parked = None;
            if let Err(truncated) = this.after_nap(outcome) {
                return Poll::Ready(Err(truncated));
            }
            woken = outcome == Outcome::Woken;
        } else {
            let result = (this.attempt)(this.handle);
            if !must_wait(&result) {
                return Poll::Ready(this.finish(result));
            }
        }
        loop {
            let epoch = this.handle.sleeper_mut().register();
            if !woken && !this.handle.watch_sees_leaving() {
                // A peer that left before we announced ourselves wakes nobody.
                this.handle.look_at_peers_now();
            }
            let futex_value = this.handle.sleeper().announce();
            this.announced = true;
            let mut result = (this.attempt)(this.handle);
            if woken && must_wait(&result) {
                // As in `wait::sleep_until`: woken and still blocked, so look
                // for a dead owner of the slot we wait behind now.
                this.handle.look_for_dead_owners_now();
                result = (this.attempt)(this.handle);
            }
            if !must_wait(&result) {
                this.withdraw();
                return Poll::Ready(this.finish(result));
            }
            let strategy = this.handle.sleeper().strategy();
            let mut nap = strategy.peer_check_interval();
            if !this
                .handle
                .sleeper()
                .wakers_acknowledged(&this.handle.shared().region, epoch)
            {
                nap = nap.min(this.unacknowledged_nap);
                this.unacknowledged_nap = this.unacknowledged_nap.saturating_mul(2);
            }
            this.handle.sleeper().count_sleep();
            let parked = driver().park(
                this.handle.shared_arc(),
                this.handle.sleeper().futex_word(),
                futex_value,
                nap_deadline(nap),
                cx.waker(),
            );
            match parked {
                Ok(Some(parked)) => {
                    this.parked = Some(parked);
                    this.slept = true;
                    return Poll::Pending;
                }
                // The word moved on already: a wake came, try again now.
                Ok(None) => {
                    this.withdraw();
                    if !this.handle.watch_sees_leaving() {
                        this.handle.look_at_peers_now();
                    }
                    woken = true;
                }
                Err(error) => {
                    this.withdraw();
                    return Poll::Ready(this.finish(Err(error)));
                }
            }
        }
    }
}

impl<H: Blocking, F> AsyncWait<'_, H, F> {
    /// After the driver woke us: withdraw, and after a nap that ran out look
    /// at the file's size and the peers afresh, as `wait::sleep_until` does.
    fn after_nap(&mut self, outcome: Outcome) -> Result<(), Error> {
        if outcome == Outcome::TimedOut {
            if let Err(truncated) = self.handle.shared().check_size() {
                if truncated.kind() == ErrorKind::Truncated {
                    // The ring is lost: leave our marks in it untouched.
                    self.announced = false;
                    self.handle.sleeper_mut().forget_registration();
                    return Err(truncated);
                }
            }
        }
        self.withdraw();
        if outcome == Outcome::TimedOut || !self.handle.watch_sees_leaving() {
            self.handle.look_at_peers_now();
        }
        if outcome == Outcome::TimedOut {
            self.handle.look_for_dead_owners_now();
        }
        Ok(())
    }

    fn withdraw(&mut self) {
        if std::mem::take(&mut self.announced) {
            self.handle.sleeper().withdraw();
        }
    }

    /// The wait's result; gives the registration up unless the wait slept and
    /// succeeded (the policy of `wait::block_on`).
    fn finish<T>(&mut self, result: Result<Option<T>, Error>) -> Result<T, Error> {
        match result {
            Ok(Some(value)) => {
                if !self.slept {
                    self.handle.sleeper_mut().deregister();
                }
                Ok(value)
            }
            Err(error) => {
                self.handle.sleeper_mut().deregister();
                Err(error)
            }
            Ok(None) => unreachable!("an async wait ends only when the attempt succeeds or fails"),
        }
    }
}

impl<H: Blocking, F> Drop for AsyncWait<'_, H, F> {
    fn drop(&mut self) {
        // Dropped while waiting (cancelled): nothing of ours stays behind.
        if let Some(parked) = self.parked.take() {
            driver().unpark(&parked);
            self.withdraw();
            self.handle.sleeper_mut().deregister();
        }
    }
}

/// When a nap of `nap` from now ends (a peer-check interval too long to
/// add to the clock is taken as a day: the nap only bounds liveness checks).
fn nap_deadline(nap: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(nap)
        .unwrap_or_else(|| now + Duration::from_secs(24 * 60 * 60))
}

/// A parked future's place in the driver.
#[derive(Debug)]
struct Parked {
    /// The address of the futex word: the key of its watch.
    word: usize,
    id: u64,
}

/// The driver's view of one futex word that futures wait on.
struct Watch {
    /// Keeps the mapping (and so `word`) alive while futures wait on it.
    shared: Arc<Shared>,
    word: NonNull<AtomicU32>,
    /// The value the driver sleeps on for this word as of its last round,
    /// `None` while it does not sleep on it.
    expected: Option<u32>,
    entries: HashMap<u64, Entry>,
}

impl Watch {
    fn word(&self) -> &AtomicU32 {
        // SAFETY: the word lies in the mapping that `self.shared` keeps alive.
        unsafe { self.word.as_ref() }
    }
}

/// One parked future.
struct Entry {
    /// The futex value it read before announcing itself.
    value: u32,
    /// When its nap runs out.
    deadline: Instant,
    waker: TaskWaker,
    /// What woke it, once something did (it is then no longer watched).
    fired: Option<Outcome>,
}

#[derive(Default)]
struct DriverState {
    watches: HashMap<usize, Watch>,
    next_id: u64,
    /// When the driver's current sleep ends, `None` for no limit.
    sleeping_until: Option<Instant>,
    /// Whether the driver thread runs.
    started: bool,
    /// Rounds the driver made (for tests: an idle driver makes none).
    rounds: u64,
}

// SAFETY: `Watch::word` points into the mapping its `Arc<Shared>` keeps
// alive, and is only reached as an atomic; the rest is plain data.
unsafe impl Send for DriverState {}

/// This process's driver: the state under a lock, and the private futex word
/// a park bumps to make the driver look again.
struct Driver {
    state: Mutex<DriverState>,
    control: AtomicU32,
}

/// Longest sleep of the driver while more lines have futures than one
/// `futex_waitv` can watch: those it does not watch, it looks at this often.
const UNWATCHED_POLL: Duration = Duration::from_millis(1);

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(|| Driver {
        state: Mutex::new(DriverState::default()),
        control: AtomicU32::new(0),
    })
}

/// Rounds the driver has made so far: a test's proof that an idle driver
/// does not spin.
#[doc(hidden)]
pub fn driver_rounds() -> u64 {
    driver().lock().rounds
}

impl Driver {
    fn lock(&self) -> MutexGuard<'_, DriverState> {
        // A panic elsewhere while holding the lock leaves the state whole:
        // every change to it is one insert or remove.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parks `waker` until `word` no longer holds `value` or `deadline`
    /// passes; `None` when the word moved on already (try again now).
    fn park(
        &'static self,
        shared: &Arc<Shared>,
        word: &AtomicU32,
        value: u32,
        deadline: Instant,
        waker: &TaskWaker,
    ) -> Result<Option<Parked>, Error> {
        let mut state = self.lock();
        if !state.started {
            std::thread::Builder::new()
                .name("shmlane-async".into())
                .spawn(move || self.run())
                .map_err(|e| Error::io("starting the async wait driver thread", e))?;
            state.started = true;
        }
        // Ordering: Acquire, pairs with the Release bump in `wake_all`, as
        // waiting 1 does: the bump came, and with it what it announces.
        if word.load(Ordering::Acquire) != value {
            return Ok(None);
        }
        let key = word as *const AtomicU32 as usize;
        let id = state.next_id;
        state.next_id += 1;
        let sleeping_until = state.sleeping_until;
        let watch = state.watches.entry(key).or_insert_with(|| Watch {
            shared: Arc::clone(shared),
            word: NonNull::from(word),
            expected: None,
            entries: HashMap::new(),
        });
        watch.entries.insert(
            id,
            Entry {
                value,
                deadline,
                waker: waker.clone(),
                fired: None,
            },
        );
        // The driver's sleep covers us only if it sleeps on this word with our
        // value and ends no later than our nap; otherwise it must look again.
        let covered =
            watch.expected == Some(value) && sleeping_until.is_some_and(|until| until <= deadline);
        drop(state);
        if !covered {
            self.kick();
        }
        Ok(Some(Parked { word: key, id }))
    }

    /// What woke the parked future, which is then no longer parked; `None`
    /// while nothing did (its waker is updated to `waker`).
    fn poll_parked(&self, parked: &Parked, waker: &TaskWaker) -> Option<Outcome> {
        let mut state = self.lock();
        let entry = state
            .watches
            .get_mut(&parked.word)
            .and_then(|watch| watch.entries.get_mut(&parked.id));
        match entry {
            Some(Entry {
                fired: None,
                waker: parked_waker,
                ..
            }) => {
                parked_waker.clone_from(waker);
                None
            }
            _ => {
                drop(state);
                Some(self.unpark(parked).unwrap_or(Outcome::Woken))
            }
        }
    }

    /// Removes a parked future's entry (and its word's watch with the last
    /// one); what woke it, if anything did.
    fn unpark(&self, parked: &Parked) -> Option<Outcome> {
        let mut state = self.lock();
        let watch = state.watches.get_mut(&parked.word)?;
        let entry = watch.entries.remove(&parked.id);
        if watch.entries.is_empty() {
            let watched = watch.expected.is_some();
            state.watches.remove(&parked.word);
            drop(state);
            if watched {
                // Let the driver stop sleeping on the word and drop the ring.
                self.kick();
            }
        }
        entry.and_then(|entry| entry.fired)
    }

    /// Makes the driver look at its state again.
    fn kick(&self) {
        // Ordering: Release, pairs with the Acquire load in `run`: a driver
        // that reads the bumped value sees the state changed before (which the
        // lock orders anyway); a driver that read the old value sleeps on it,
        // and FUTEX_WAKE (or the kernel's comparison) ends that sleep.
        self.control.fetch_add(1, Ordering::Release);
        futex_wake_private(&self.control);
    }

    /// The driver thread: forever, fire the entries whose word moved on or
    /// whose nap ran out, then sleep on every watched word and the control
    /// word until one changes or the earliest nap runs out.
    fn run(&self) {
        let mut waits = Vec::with_capacity(FutexWaitv::MAX);
        let mut keep_alive: Vec<Arc<Shared>> = Vec::new();
        let mut to_wake: Vec<TaskWaker> = Vec::new();
        loop {
            let mut state = self.lock();
            state.rounds += 1;
            // Ordering: Acquire, pairs with the Release bump in `kick`. Read
            // under the lock: a kick after this changes the word we sleep on.
            let control = self.control.load(Ordering::Acquire);
            waits.push(FutexWaitv::new(&self.control, control, true));
            let now = Instant::now();
            let mut earliest: Option<Instant> = None;
            let mut unwatched = false;
            for watch in state.watches.values_mut() {
                // Ordering: Acquire, pairs with the Release bump in `wake_all`.
                let current = watch.word().load(Ordering::Acquire);
                let mut waiting = false;
                for entry in watch.entries.values_mut() {
                    if entry.fired.is_some() {
                        continue;
                    }
                    if entry.value != current {
                        entry.fired = Some(Outcome::Woken);
                    } else if entry.deadline <= now {
                        entry.fired = Some(Outcome::TimedOut);
                    } else {
                        waiting = true;
                        earliest = Some(earliest.map_or(entry.deadline, |e| e.min(entry.deadline)));
                        continue;
                    }
                    to_wake.push(entry.waker.clone());
                }
                watch.expected = None;
                if waiting {
                    if waits.len() < FutexWaitv::MAX {
                        waits.push(FutexWaitv::new(watch.word(), current, false));
                        keep_alive.push(Arc::clone(&watch.shared));
                        watch.expected = Some(current);
                    } else {
                        unwatched = true;
                    }
                }
            }
            if unwatched {
                let poll_at = now + UNWATCHED_POLL;
                earliest = Some(earliest.map_or(poll_at, |e| e.min(poll_at)));
            }
            state.sleeping_until = earliest;
            drop(state);
            for waker in to_wake.drain(..) {
                waker.wake();
            }
            let timeout = earliest.map(|until| until.saturating_duration_since(Instant::now()));
            if futex_waitv(&waits, timeout).is_err() {
                // No futex_waitv (before Linux 5.16): fall back to looking
                // every millisecond, which still loses no wake-up.
                std::thread::sleep(UNWATCHED_POLL);
            }
            waits.clear();
            keep_alive.clear();
        }
    }
}
