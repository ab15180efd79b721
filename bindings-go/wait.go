package shmlane

// Blocking waits: spin, then yield, then sleep on a futex word in the
// mapping, by the eventcount of docs/layout.md#waiting-and-waking, step for
// step, so Go sleepers are woken by Rust and C wakers and the other way round.
//
// Go's sync/atomic operations are sequentially consistent, stronger than the
// orderings the layout asks for; the publishing stores use storeRelease64 and
// the fences fullFence, the instructions the Rust crate compiles to.

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// WaitStrategy says how a blocking call waits: spin for SpinFor, then yield
// the CPU for YieldFor, then (if Sleeps) sleep on the ring's futex, waking at
// least every PeerCheckInterval (at least 1 ms) to test whether the peers died.
type WaitStrategy struct {
	SpinFor           time.Duration
	YieldFor          time.Duration
	Sleeps            bool
	PeerCheckInterval time.Duration
}

// DefaultWaitStrategy spins for 20 µs, yields for 50 µs, then sleeps, checking
// the peers every 50 ms while asleep (the Rust crate's default).
func DefaultWaitStrategy() WaitStrategy {
	return WaitStrategy{SpinFor: 20 * time.Microsecond, YieldFor: 50 * time.Microsecond, Sleeps: true,
		PeerCheckInterval: 50 * time.Millisecond}
}

// SpinningWaitStrategy busy-polls for the whole wait: the lowest latency, a
// core's worth of CPU. A handle with it never registers as a sleeper, so its
// peers never pay for wake-ups.
func SpinningWaitStrategy() WaitStrategy {
	return WaitStrategy{SpinFor: time.Duration(1<<63 - 1), PeerCheckInterval: 50 * time.Millisecond}
}

// SleepingWaitStrategy sleeps on the futex as soon as one re-check finds
// nothing: no CPU while waiting, a system call on each side per wake-up.
func SleepingWaitStrategy() WaitStrategy {
	return WaitStrategy{Sleeps: true, PeerCheckInterval: 50 * time.Millisecond}
}

const (
	minPeerCheckInterval   = time.Millisecond
	firstUnacknowledgedNap = time.Millisecond
	spinsPerClockRead      = 64
	spinsPerGosched        = 1024
	// ctxPollInterval bounds a sleep when the context can be cancelled: a
	// cancellation is noticed within it (a deadline is slept up to exactly).
	ctxPollInterval = 10 * time.Millisecond
)

func (s WaitStrategy) normalized() WaitStrategy {
	if s.PeerCheckInterval < minPeerCheckInterval {
		s.PeerCheckInterval = minPeerCheckInterval
	}
	if s.SpinFor < 0 {
		s.SpinFor = 0
	}
	if s.YieldFor < 0 {
		s.YieldFor = 0
	}
	return s
}

// waitWords are typed pointers to the words of one wait line, computed once at
// join from layout constants (in bounds: the header region is always mapped).
type waitWords struct {
	futex, waiters, sleepers *uint32
	epoch, sleeps, wakes     *uint64
}

func newWaitWords(r *Ring, lineOffset uint64) waitWords {
	return waitWords{
		futex:    r.u32At(lineOffset + waitFutex),
		waiters:  r.u32At(lineOffset + waitWaiters),
		sleepers: r.u32At(lineOffset + waitSleepers),
		epoch:    r.u64At(lineOffset + waitEpoch),
		sleeps:   r.u64At(lineOffset + waitSleeps),
		wakes:    r.u64At(lineOffset + waitWakes),
	}
}

// wakeAll bumps the futex word and wakes every sleeper on it.
func (w *waitWords) wakeAll() {
	// Ordering: release (Rust: Release fetch_add), pairs with the acquire load
	// of the futex word in sleepUntil (Go) and block_on (Rust): a waiter that
	// reads the bumped value sees our publish.
	atomic.AddUint32(w.futex, 1)
	futexWakeAll(w.futex)
	// A statistic.
	atomic.AddUint64(w.wakes, 1)
}

// waker is the waking half a handle keeps for the line its publishes feed.
type waker struct {
	words     waitWords
	ack       *uint64 // our wake_ack in our participant record
	seenEpoch uint64
	armed     bool
	// expect is what notify compares the epoch with: seenEpoch while
	// disarmed, wakerArmed (which no epoch of a sound ring reaches) while
	// armed, so that the common case is one load and one compare.
	expect uint64
}

// wakerArmed is waker.expect while armed. A hostile peer that sets the epoch
// to it delays wake-ups by one peer-check interval at most: every sleep is
// bounded by it (Rust: ARMED in wait.rs).
const wakerArmed = ^uint64(0)

// newWaker makes the waker of a handle owning record, after the claim.
func newWaker(r *Ring, lineOffset uint64, record uint32) waker {
	w := waker{words: newWaitWords(r, lineOffset), ack: r.u64At(r.geo.recordOffset(record) + recWakeAck)}
	// Ordering: full fence, paired with the one in sleeper.register (Go) and
	// Sleeper::register (Rust): our claim of the record and the sleeper's epoch
	// bump form a Dekker pair, so either its scan sees us joined and waits for
	// our acknowledgement, or our epoch load below sees its registration.
	fullFence()
	// Ordering: acquire, pairs with the epoch bumps of registrations: the
	// sleepers count behind the epoch is visible to rearm.
	w.rearm(atomic.LoadUint64(w.words.epoch))
	return w
}

// notify runs after every publish: one load and one compare while nobody sleeps.
func (w *waker) notify() {
	// Ordering: Relaxed in Rust; a hint that registrations changed. rearm
	// reloads it with acquire.
	epoch := atomic.LoadUint64(w.words.epoch)
	if epoch != w.expect {
		w.notifySlow(epoch)
	}
}

//go:noinline
func (w *waker) notifySlow(epoch uint64) {
	if epoch != w.seenEpoch {
		// Ordering: acquire, as in newWaker.
		w.rearm(atomic.LoadUint64(w.words.epoch))
	}
	if w.armed {
		// Ordering: full fence, paired with the one after a waiter's
		// announcement (sleepUntil here, block_on in Rust): our publish and its
		// waiters increment form a Dekker pair.
		fullFence()
		if atomic.LoadUint32(w.words.waiters) != 0 {
			w.words.wakeAll()
		}
	}
}

// rearm arms or disarms for the registrations as of epoch, and acknowledges it.
func (w *waker) rearm(epoch uint64) {
	w.armed = atomic.LoadUint32(w.words.sleepers) != 0
	w.seenEpoch = epoch
	w.expect = epoch
	if w.armed {
		w.expect = wakerArmed
	}
	// Ordering: release, pairs with the acquire load of wake_ack in
	// wakersAcknowledged (Go) and Sleeper::wakers_acknowledged (Rust).
	atomic.StoreUint64(w.ack, epoch)
}

// wakeOnLeave wakes every sleeper, armed or not, after the handle's record is
// marked closed, so that sleeping peers notice.
func (w *waker) wakeOnLeave() { w.words.wakeWaitersOnLeave() }

// wakePeersOnLeave wakes the other sleepers of the leaving handle's own role:
// one that looked for live handles of the other role while this one was
// half-way out (record closed, lock still held) took it for a possible
// newcomer and went to sleep; it must look again now the lock is gone
// (docs/layout.md#waiting-and-waking, step L; Rust: Sleeper::wake_peers_on_leave).
func (s *sleeper) wakePeersOnLeave() { s.words.wakeWaitersOnLeave() }

// wakeWaitersOnLeave wakes whoever waits on the line, armed or not.
func (w *waitWords) wakeWaitersOnLeave() {
	// Ordering: full fence, the same Dekker pair as in notifySlow, with the
	// record's closed owner word and its released lock as the publish.
	fullFence()
	if atomic.LoadUint32(w.waiters) != 0 {
		w.wakeAll()
	}
}

// forgetDeadOwner undoes the registration and announcement that a dead owner
// of the record at record (role code role) left on its wait line, as its
// wait_state says. The caller holds the record's lock.
func forgetDeadOwner(r *Ring, record uint64, role uint64) {
	var line uint64
	switch role {
	case roleConsumer:
		line = dataWaitLineOffset
	case roleProducer:
		line = spaceWaitLineOffset
	default:
		return
	}
	stateWord := r.u64At(record + recWaitState)
	// Written by the dead owner, whose writes happened before its lock went.
	state := atomic.LoadUint64(stateWord)
	words := newWaitWords(r, line)
	if state&waitStateWaiting != 0 {
		// As in leaveWaiters (Go) and leave_waiters (Rust).
		atomic.AddUint32(words.waiters, ^uint32(0))
	}
	if state&waitStateRegistered != 0 {
		// As in deregisterNow (Go) and Sleeper::deregister_now (Rust): the
		// epoch bump, after the count, makes wakers re-arm (or disarm).
		atomic.AddUint32(words.sleepers, ^uint32(0))
		atomic.AddUint64(words.epoch, 1)
	}
	// Only the record's owner (now us) writes it.
	atomic.StoreUint64(stateWord, 0)
}

// sleeper is the sleeping half a handle keeps for the line it waits on.
type sleeper struct {
	words     waitWords
	waitState *uint64 // our wait_state in our participant record
	wakerRole uint64  // the role whose handles wake our line
	strategy  WaitStrategy
	// registered: whether we are registered as a sleeper, since regEpoch.
	registered bool
	regEpoch   uint64
}

func newSleeper(r *Ring, lineOffset uint64, record uint32, wakerRole uint64) sleeper {
	return sleeper{
		words:     newWaitWords(r, lineOffset),
		waitState: r.u64At(r.geo.recordOffset(record) + recWaitState),
		wakerRole: wakerRole,
		strategy:  DefaultWaitStrategy(),
	}
}

// register registers as a sleeper (once); returns the registration's epoch.
func (s *sleeper) register() uint64 {
	if s.registered {
		return s.regEpoch
	}
	// Ordering: Relaxed in Rust; published by the epoch bump below.
	atomic.AddUint32(s.words.sleepers, 1)
	// Ordering: AcqRel in Rust; release pairs with the wakers' acquire epoch
	// loads, so a waker that sees this epoch sees the count above.
	epoch := atomic.AddUint64(s.words.epoch, 1)
	// Ordering: full fence, paired with the one in newWaker.
	fullFence()
	s.setWaitState(waitStateRegistered, true)
	s.registered, s.regEpoch = true, epoch
	return epoch
}

// setWaitState records in our participant record what we hold on the line.
// Only we write it, and only a claimer of our record after our death reads it.
func (s *sleeper) setWaitState(bit uint64, on bool) {
	state := atomic.LoadUint64(s.waitState)
	if on {
		state |= bit
	} else {
		state &^= bit
	}
	// Ordering: Relaxed in Rust: read only by forgetDeadOwner after our death.
	atomic.StoreUint64(s.waitState, state)
}

// deregister gives up the registration, if any.
func (s *sleeper) deregister() {
	if s.registered {
		s.deregisterNow()
	}
}

//go:noinline
func (s *sleeper) deregisterNow() {
	s.registered = false
	s.setWaitState(waitStateRegistered, false)
	// Ordering: Relaxed in Rust; published by the epoch bump below.
	atomic.AddUint32(s.words.sleepers, ^uint32(0))
	// Ordering: AcqRel in Rust: wakers disarm once they see it.
	atomic.AddUint64(s.words.epoch, 1)
}

func (s *sleeper) leaveWaiters() {
	s.setWaitState(waitStateWaiting, false)
	// A waker that still counts us only wakes in vain.
	atomic.AddUint32(s.words.waiters, ^uint32(0))
}

// wakersAcknowledged reports whether every active participant that wakes our
// line has acknowledged epoch, so that its publishes are sure to wake us.
func (s *sleeper) wakersAcknowledged(r *Ring, epoch uint64) bool {
	for index := uint32(0); index < r.geo.ParticipantCount; index++ {
		record := r.geo.recordOffset(index)
		// Ordering: acquire, pairs with the claim's exchange: a new owner's
		// reset of wake_ack is visible.
		_, role, state := ownerParts(atomic.LoadUint64(r.u64At(record + recOwner)))
		if role != s.wakerRole || state != stateActive {
			continue
		}
		// Ordering: acquire, pairs with the release store in rearm.
		if atomic.LoadUint64(r.u64At(record+recWakeAck)) < epoch {
			return false
		}
	}
	return true
}

// waitable is what the wait loop needs of a handle.
type waitable interface {
	// attempt is one non-blocking try to claim up to wanted slots: count 0
	// without an error means full (or empty): wait and try again.
	attempt(wanted uint64) (position, count uint64, err error)
	// mayBeReady is a cheap hint (one load of the peer's position word): false
	// when an attempt would surely find the ring as before.
	mayBeReady() bool
	// lookAtPeersNow makes the next look at the peers test their locks.
	lookAtPeersNow()
	// watchSeesLeaving: whether the handle's look at its peers notices a
	// leaving at once (SPSC) rather than within its rate limit (MPMC).
	watchSeesLeaving() bool
	waitRing() *Ring
	waitSleeper() *sleeper
}

// blockOn calls h.attempt until it claims something or fails, waiting between
// calls as the handle's strategy says, until ctx is done: then it returns
// count 0 and no error, as an attempt on a full (empty) ring does. A handle
// registers as a sleeper when a wait first goes to sleep and stays registered
// while its waits keep ending asleep with a claim (a ping-pong); a call that
// finds the ring ready at once, or comes back without a claim, deregisters.
func blockOn(ctx context.Context, h waitable, wanted uint64) (uint64, uint64, error) {
	position, count, err := h.attempt(wanted)
	if count > 0 || err != nil {
		h.waitSleeper().deregister()
		return position, count, err
	}
	return waitSlow(ctx, h, wanted)
}

//go:noinline
func waitSlow(ctx context.Context, h waitable, wanted uint64) (uint64, uint64, error) {
	until := waitEnd{done: ctx.Done()}
	until.deadline, until.hasDeadline = ctx.Deadline()
	s := h.waitSleeper()
	strategy := s.strategy
	position, count, sleep, err := spinThenYield(h, wanted, until, strategy)
	if !sleep {
		s.deregister()
		return position, count, err
	}
	position, count, err = sleepUntil(h, wanted, until, strategy)
	if count == 0 {
		// Timed out, cancelled, or the peers are gone: no reason to keep wakers armed.
		s.deregister()
	}
	return position, count, err
}

// settle waits, at the end of a wait that the context ended, until ctx.Err()
// says so (a moment after the deadline read on the clock), so that a caller
// who gets ok false from a blocking call can rely on ctx.Err().
func (w *waitEnd) settle() {
	if w.done != nil {
		<-w.done
	}
}

// waitEnd is when a wait ends without a claim: its context's Done channel
// (nil if it is never done) and deadline.
type waitEnd struct {
	done        <-chan struct{}
	deadline    time.Time
	hasDeadline bool
}

// reached reports whether the wait is over at now: the context is done, or
// its deadline has come (looked at apart, since Done closes a little after).
func (w *waitEnd) reached(now time.Time) bool {
	return w.hasDeadline && !now.Before(w.deadline) || w.cancelled()
}

func (w *waitEnd) cancelled() bool {
	if w.done == nil {
		return false
	}
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// spinThenYield spins, then yields, as the strategy says, until an attempt
// claims something or fails, or the wait is over (count 0, no error);
// sleep reports instead that the strategy's spinning and yielding ran their
// time: it is time to sleep.
func spinThenYield(h waitable, wanted uint64, until waitEnd, strategy WaitStrategy) (
	position, count uint64, sleep bool, err error) {
	if strategy.SpinFor > 0 {
		start := time.Now()
		for spins := uint32(1); ; spins++ {
			cpuRelax()
			if h.mayBeReady() || spins%spinsPerClockRead == 0 {
				if position, count, err = h.attempt(wanted); count > 0 || err != nil {
					return position, count, false, err
				}
			}
			if spins%spinsPerClockRead == 0 {
				now := time.Now()
				if until.reached(now) {
					until.settle()
					return 0, 0, false, nil
				}
				if now.Sub(start) >= strategy.SpinFor {
					break
				}
				if spins%spinsPerGosched == 0 {
					// Let other goroutines of this process (perhaps the peer) run.
					runtime.Gosched()
				}
			}
		}
	}
	if strategy.Sleeps && strategy.YieldFor == 0 {
		return 0, 0, true, nil
	}
	start := time.Now()
	for {
		runtime.Gosched()
		schedYield()
		if position, count, err = h.attempt(wanted); count > 0 || err != nil {
			return position, count, false, err
		}
		now := time.Now()
		if until.reached(now) {
			until.settle()
			return 0, 0, false, nil
		}
		if strategy.Sleeps && now.Sub(start) >= strategy.YieldFor {
			return 0, 0, true, nil
		}
	}
}

// sleepUntil is the sleeping phase: docs/layout.md#waiting-and-waking, "Waiting", steps 1 to 6.
// It ends with a claim, a failure, or (count 0, no error) the wait's end.
func sleepUntil(h waitable, wanted uint64, until waitEnd, strategy WaitStrategy) (uint64, uint64, error) {
	s := h.waitSleeper()
	r := h.waitRing()
	epoch := s.register()
	if !h.watchSeesLeaving() {
		// A peer that left before we announced ourselves wakes nobody.
		h.lookAtPeersNow()
	}
	unacknowledgedNap := firstUnacknowledgedNap
	for {
		// Ordering: acquire, pairs with the release bump in wakeAll. Read
		// before announcing: any later bump makes FUTEX_WAIT return at once.
		futexValue := atomic.LoadUint32(s.words.futex)
		atomic.AddUint32(s.words.waiters, 1)
		s.setWaitState(waitStateWaiting, true)
		// Ordering: full fence, paired with the one in waker.notifySlow and
		// wakeOnLeave (Go) and Waker::notify_slow (Rust).
		fullFence()
		position, count, err := h.attempt(wanted)
		if count > 0 || err != nil {
			s.leaveWaiters()
			return position, count, err
		}
		nap := strategy.PeerCheckInterval
		if until.hasDeadline {
			remaining := time.Until(until.deadline)
			if remaining <= 0 {
				s.leaveWaiters()
				until.settle()
				return 0, 0, nil
			}
			nap = min(nap, remaining)
		}
		if until.done != nil {
			if until.cancelled() {
				s.leaveWaiters()
				until.settle()
				return 0, 0, nil
			}
			nap = min(nap, ctxPollInterval)
		}
		if !s.wakersAcknowledged(r, epoch) {
			nap = min(nap, unacknowledgedNap)
			// Doubles up to the peer-check interval, as Rust's saturating
			// doubling does: unbounded, it would overflow to a zero nap
			// (a busy loop) after 44 doublings of an idle, unacknowledged wait.
			unacknowledgedNap = min(2*unacknowledgedNap, strategy.PeerCheckInterval)
		}
		atomic.AddUint64(s.words.sleeps, 1) // a statistic
		timedOut := futexWait(s.words.futex, futexValue, nap)
		s.leaveWaiters()
		// A dead peer wakes nobody: after a nap that ran out, look at the
		// peers' locks afresh. A leaving one wakes us, which a watch that does
		// not notice leaving must also be told.
		if timedOut || !h.watchSeesLeaving() {
			h.lookAtPeersNow()
		}
	}
}

// Pause is a spin-wait hint to the CPU (PAUSE on x86-64, YIELD on arm64), the
// equivalent of Rust's std::hint::spin_loop, for loops that poll TryRead or
// TryReserve: it eases the pressure on the cache line the peer writes.
func Pause() { cpuRelax() }
