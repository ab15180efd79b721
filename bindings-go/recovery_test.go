package shmlane

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A dead owner is simulated in a live ring without a process: a participant
// record written by hand as its owner would have left it when killed (owner
// word active, a claim range covering the stalled position, no lock held),
// and the position word moved past the position, as its claim did.

// recoveryWait bounds how long a test waits for recovery: a hang detector,
// far above the grace period of 1 ms and the 50 ms peer check.
const recoveryWait = 60 * time.Second

// deadOwnerRecord writes into record index the state a killed owner of role
// leaves behind: active, claiming from .. to, nobody holding the lock.
func deadOwnerRecord(t *testing.T, r *Ring, index uint32, role, from, to uint64) {
	t.Helper()
	record := r.geo.recordOffset(index)
	if _, _, state := ownerParts(atomic.LoadUint64(r.u64At(record + recOwner))); state != stateFree {
		t.Fatalf("record %d is in use", index)
	}
	atomic.StoreUint64(r.u64At(record+recClaimStart), from)
	atomic.StoreUint64(r.u64At(record+recClaimEnd), to)
	atomic.StoreUint64(r.u64At(record+recOwner), ownerWord(1, role, stateActive))
}

// claimPast moves the position word from from to to, as the dead owner's
// claim of from .. to did.
func claimPast(t *testing.T, word *uint64, from, to uint64) {
	t.Helper()
	if !atomic.CompareAndSwapUint64(word, from, to) {
		t.Fatalf("position word is %d, not %d", atomic.LoadUint64(word), from)
	}
}

// lockRecord holds record index's lock through a file description of the
// test's own, as a live owner (perhaps in another process) would, until the
// returned function releases it.
func lockRecord(t *testing.T, r *Ring, index uint32) (unlock func()) {
	t.Helper()
	fd, err := reopen(r.fd)
	if err != nil {
		t.Fatal(err)
	}
	if locked, err := tryLockRecord(fd, r.geo.recordOffset(index)); err != nil || !locked {
		syscall.Close(fd)
		t.Fatalf("lock of record %d: %v %v", index, locked, err)
	}
	closed := false
	unlock = func() {
		if !closed {
			closed = true
			syscall.Close(fd)
		}
	}
	t.Cleanup(unlock)
	return unlock
}

func recoveryCounts(t *testing.T, r *Ring) (dropped, lost uint64) {
	t.Helper()
	info, err := r.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.DroppedClaims, info.LostMessages
}

// readUntil polls TryRead until a message comes (or the wait runs out) and
// returns its first byte.
func readUntil(t *testing.T, c *Consumer) byte {
	t.Helper()
	deadline := time.Now().Add(recoveryWait)
	for {
		msg, ok, err := c.TryRead()
		if ok {
			b := msg.Bytes()[0]
			msg.Release()
			return b
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("read: %v", err)
		}
		Pause()
	}
}

// sendUntil polls TrySend until the message goes (or the wait runs out).
func sendUntil(t *testing.T, p *Producer, message []byte) {
	t.Helper()
	deadline := time.Now().Add(recoveryWait)
	for {
		ok, err := p.TrySend(message)
		if ok {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("send: %v", err)
		}
		Pause()
	}
}

// expectStuck polls for a while, well past the grace period: every call must
// find the ring empty (consumer) or full (producer), ok false without error.
func expectStuck(t *testing.T, attempt func() (bool, error)) {
	t.Helper()
	until := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(until) {
		if ok, err := attempt(); ok || err != nil {
			t.Fatalf("expected the ring stuck while the owner lives: %v %v", ok, err)
		}
		Pause()
	}
}

func tryRead(c *Consumer) func() (bool, error) {
	return func() (bool, error) {
		msg, ok, err := c.TryRead()
		msg.Release()
		return ok, err
	}
}

func trySend(p *Producer, message []byte) func() (bool, error) {
	return func() (bool, error) { return p.TrySend(message) }
}

// expectDrained checks that c finds nothing more: every message came once.
func expectDrained(t *testing.T, c *Consumer) {
	t.Helper()
	expectEmpty(t, c)
}

func TestMPMCConsumerSkipsThePositionOfADeadProducer(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 8))
	p, c := mustProducer(t, r), mustConsumer(t, r) // records 0 and 1
	mustSend(t, p, []byte{0})
	deadOwnerRecord(t, r, 2, roleProducer, 1, 2)
	claimPast(t, r.u64At(tailOffset), 1, 2)
	for _, b := range []byte{2, 3} {
		mustSend(t, p, []byte{b})
	}
	if got := readUntil(t, c); got != 0 {
		t.Fatalf("first message: %d", got)
	}
	// A stall is an owner at work until it lasts: nothing is cleaned at once.
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("at the first sighting of the stall: %v %v", ok, err)
	}
	if dropped, _ := recoveryCounts(t, r); dropped != 0 {
		t.Fatalf("cleaned at the first sighting: %d", dropped)
	}
	for _, want := range []byte{2, 3} {
		if got := readUntil(t, c); got != want {
			t.Fatalf("after the dead producer's claim: %d, want %d", got, want)
		}
	}
	expectDrained(t, c)
	if dropped, lost := recoveryCounts(t, r); dropped != 1 || lost != 0 {
		t.Fatalf("dropped %d lost %d, want 1 and 0", dropped, lost)
	}
	// The slot went round: free for the next lap.
	if stamp := atomic.LoadUint64(c.a.stamp(1)); stamp != 1+8 {
		t.Fatalf("stamp of the recovered slot: %#x", stamp)
	}
}

func TestMPMCConsumerSkipsEveryPositionOfADeadProducersBatch(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 8))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	deadOwnerRecord(t, r, 2, roleProducer, 0, 3)
	claimPast(t, r.u64At(tailOffset), 0, 3)
	mustSend(t, p, []byte{3})
	if got := readUntil(t, c); got != 3 {
		t.Fatalf("after the dead batch: %d", got)
	}
	expectDrained(t, c)
	if dropped, lost := recoveryCounts(t, r); dropped != 3 || lost != 0 {
		t.Fatalf("dropped %d lost %d, want 3 and 0", dropped, lost)
	}
}

func TestMPMCProducerReleasesTheSlotOfADeadConsumer(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 8))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	for b := byte(0); b < 4; b++ {
		mustSend(t, p, []byte{b})
	}
	deadOwnerRecord(t, r, 2, roleConsumer, 0, 1)
	claimPast(t, r.u64At(headOffset), 0, 1)
	for _, want := range []byte{1, 2, 3} {
		if got := readUntil(t, c); got != want {
			t.Fatalf("message %d: %d", want, got)
		}
	}
	if ok, err := p.TrySend([]byte{4}); ok || err != nil {
		t.Fatalf("at the first sighting of the stall: %v %v", ok, err)
	}
	sendUntil(t, p, []byte{4})
	if got := readUntil(t, c); got != 4 {
		t.Fatalf("after the dead consumer's slot: %d", got)
	}
	expectDrained(t, c)
	if dropped, lost := recoveryCounts(t, r); dropped != 0 || lost != 1 {
		t.Fatalf("dropped %d lost %d, want 0 and 1", dropped, lost)
	}
}

// A dead consumer holding a slot to be skipped loses no message.
func TestMPMCDeadConsumersSkippedSlotIsReleasedUncounted(t *testing.T) {
	r := testRing(t, MPMCOptions(2, 32, 8))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	slot, ok, err := p.TryReserve()
	if !ok {
		t.Fatal(ok, err)
	}
	slot.Abort() // position 0, to be skipped
	mustSend(t, p, []byte{1})
	deadOwnerRecord(t, r, 2, roleConsumer, 0, 1)
	claimPast(t, r.u64At(headOffset), 0, 1)
	if got := readUntil(t, c); got != 1 {
		t.Fatalf("message: %d", got)
	}
	sendUntil(t, p, []byte{2})
	if got := readUntil(t, c); got != 2 {
		t.Fatalf("after the dead consumer's slot: %d", got)
	}
	if dropped, lost := recoveryCounts(t, r); dropped != 0 || lost != 0 {
		t.Fatalf("dropped %d lost %d, want 0 and 0", dropped, lost)
	}
}

// An owner whose record's lock is held is alive, however long it keeps its
// claim: its slot is never taken, and it is recovered once the lock goes.
func TestMPMCOwnerWhoseLockIsHeldIsNeverCleaned(t *testing.T) {
	t.Run("producer", func(t *testing.T) {
		r := testRing(t, MPMCOptions(8, 32, 8))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		deadOwnerRecord(t, r, 2, roleProducer, 0, 1)
		unlock := lockRecord(t, r, 2)
		claimPast(t, r.u64At(tailOffset), 0, 1)
		mustSend(t, p, []byte{1})
		expectStuck(t, tryRead(c))
		if dropped, _ := recoveryCounts(t, r); dropped != 0 {
			t.Fatalf("a live producer's claim was dropped: %d", dropped)
		}
		if stamp := atomic.LoadUint64(c.a.stamp(0)); stamp != 0 {
			t.Fatalf("stamp of the live claim: %#x", stamp)
		}
		unlock()
		if got := readUntil(t, c); got != 1 {
			t.Fatalf("after the lock went: %d", got)
		}
		if dropped, _ := recoveryCounts(t, r); dropped != 1 {
			t.Fatalf("dropped %d, want 1", dropped)
		}
	})
	t.Run("consumer", func(t *testing.T) {
		r := testRing(t, MPMCOptions(2, 32, 8))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		for b := byte(0); b < 2; b++ {
			mustSend(t, p, []byte{b})
		}
		deadOwnerRecord(t, r, 2, roleConsumer, 0, 1)
		unlock := lockRecord(t, r, 2)
		claimPast(t, r.u64At(headOffset), 0, 1)
		if got := readUntil(t, c); got != 1 {
			t.Fatalf("message: %d", got)
		}
		expectStuck(t, trySend(p, []byte{2}))
		if _, lost := recoveryCounts(t, r); lost != 0 {
			t.Fatalf("a live consumer's message was released: %d", lost)
		}
		unlock()
		sendUntil(t, p, []byte{2})
		if _, lost := recoveryCounts(t, r); lost != 1 {
			t.Fatalf("lost %d, want 1", lost)
		}
	})
}

// Go handles announce their claims, so that cleaners (Go, Rust or C) see them
// alive: a reservation, a batch and a message kept across calls stay theirs.
func TestMPMCLiveGoHandlesKeepWhatTheyClaimed(t *testing.T) {
	t.Run("reservation", func(t *testing.T) {
		r := testRing(t, MPMCOptions(8, 32, 8))
		holder, p, c := mustProducer(t, r), mustProducer(t, r), mustConsumer(t, r)
		slot, ok, err := holder.TryReserve()
		if !ok {
			t.Fatal(ok, err)
		}
		mustSend(t, p, []byte{1})
		expectStuck(t, tryRead(c))
		slot.Bytes()[0] = 0
		if err := slot.Commit(1); err != nil {
			t.Fatal(err)
		}
		for _, want := range []byte{0, 1} {
			if got := readUntil(t, c); got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		}
	})
	t.Run("batch", func(t *testing.T) {
		r := testRing(t, MPMCOptions(8, 32, 8))
		holder, p, c := mustProducer(t, r), mustProducer(t, r), mustConsumer(t, r)
		batch, ok, err := holder.TryReserveBatch(3)
		if !ok || batch.Len() != 3 {
			t.Fatalf("batch: %d %v %v", batch.Len(), ok, err)
		}
		mustSend(t, p, []byte{3})
		expectStuck(t, tryRead(c))
		batch.Write(0, []byte{0})
		batch.CommitFirst(1) // the rest travel as skips
		for _, want := range []byte{0, 3} {
			if got := readUntil(t, c); got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		}
	})
	t.Run("message kept by a short buffer", func(t *testing.T) {
		r := testRing(t, MPMCOptions(2, 32, 8))
		p, holder, c := mustProducer(t, r), mustConsumer(t, r), mustConsumer(t, r)
		p.TrySend([]byte("kept"))
		p.TrySend([]byte{1})
		if _, ok, err := holder.TryRecv(make([]byte, 1)); ok || !errors.Is(err, ErrBufferTooSmall) {
			t.Fatalf("short buffer: %v %v", ok, err)
		}
		if got := readUntil(t, c); got != 1 {
			t.Fatalf("message: %d", got)
		}
		expectStuck(t, trySend(p, []byte{2}))
		buf := make([]byte, 8)
		if n, ok, err := holder.TryRecv(buf); !ok || string(buf[:n]) != "kept" {
			t.Fatalf("kept message: %q %v %v", buf[:n], ok, err)
		}
		if _, lost := recoveryCounts(t, r); lost != 0 {
			t.Fatalf("lost %d", lost)
		}
	})
}

// The announcement protocol as the records show it.
func TestMPMCClaimsAreAnnouncedInTheRecord(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 8))
	// A dead owner's announcement in record 0 is wiped by the next claimer.
	deadOwnerRecord(t, r, 0, roleProducer, 0, 5)
	p, c := mustProducer(t, r), mustConsumer(t, r)
	if p.m.record != 0 {
		t.Fatalf("producer took record %d", p.m.record)
	}
	claimRange := func(h claimIntent) [2]uint64 {
		return [2]uint64{atomic.LoadUint64(h.start), atomic.LoadUint64(h.end)}
	}
	if got := claimRange(p.intent); got[1] != 0 {
		t.Fatalf("after the join: %v", got)
	}
	p.TrySend([]byte{0})
	batch, _, _ := p.TryReserveBatch(3)
	if got := claimRange(p.intent); got != [2]uint64{1, 4} {
		t.Fatalf("batch of 3 after one message: %v", got)
	}
	batch.Commit()
	rb, _, _ := c.TryReadBatch(8)
	if got := claimRange(c.intent); rb.Len() != 4 || got != [2]uint64{0, 4} {
		t.Fatalf("read batch of %d: %v", rb.Len(), got)
	}
	rb.Release()
	// The range stays after the claim is done, and a call that finds the
	// ring empty without announcing writes nothing.
	expectDrained(t, c)
	if got := claimRange(c.intent); got != [2]uint64{0, 4} {
		t.Fatalf("after an empty read: %v", got)
	}
	// A call that announced and then returns without a claim (its exchange
	// lost, say) leaves no range behind.
	c.intent.announce(4, 5)
	expectDrained(t, c)
	if got := claimRange(c.intent); got[1] != 0 {
		t.Fatalf("after a failed claim: %v", got)
	}
	for i := 0; i < 8; i++ {
		p.TrySend([]byte{byte(i)})
	}
	p.intent.announce(12, 13)
	if ok, err := p.TrySend([]byte{9}); ok || err != nil {
		t.Fatalf("full: %v %v", ok, err)
	}
	if got := claimRange(p.intent); got[1] != 0 {
		t.Fatalf("after a failed reserve: %v", got)
	}
}

// Once every producer is gone, a dead producer's claim is cleaned at once,
// the messages after it are delivered, and only then is the ring disconnected.
func TestMPMCConsumerRecoversAtOnceWhenEveryProducerIsGone(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 8))
	c := mustConsumer(t, r)
	p := mustProducer(t, r)
	p.TrySend([]byte{0})
	deadOwnerRecord(t, r, 2, roleProducer, 1, 2)
	claimPast(t, r.u64At(tailOffset), 1, 2)
	p.TrySend([]byte{2})
	p.Close()
	for _, want := range []byte{0, 2} {
		msg, ok, err := c.TryRead()
		if !ok || msg.Bytes()[0] != want {
			t.Fatalf("want %d at once: %v %v %v", want, msg.Bytes(), ok, err)
		}
		msg.Release()
	}
	if _, ok, err := c.TryRead(); ok || err != ErrDisconnected {
		t.Fatalf("drained: %v %v", ok, err)
	}
	if dropped, _ := recoveryCounts(t, r); dropped != 1 {
		t.Fatalf("dropped %d, want 1", dropped)
	}
}

// Blocking calls recover too: the first look after a sleep is not rate-limited.
func TestMPMCBlockingCallsRecoverFromDeadOwners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), recoveryWait)
	defer cancel()
	for _, strategy := range []WaitStrategy{DefaultWaitStrategy(), SleepingWaitStrategy(), SpinningWaitStrategy()} {
		r := testRing(t, MPMCOptions(2, 32, 8))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		p.SetWaitStrategy(strategy)
		c.SetWaitStrategy(strategy)
		deadOwnerRecord(t, r, 2, roleProducer, 0, 1)
		claimPast(t, r.u64At(tailOffset), 0, 1)
		mustSend(t, p, []byte{1})
		read := func(want byte) {
			t.Helper()
			msg, ok, err := c.Read(ctx)
			if !ok || msg.Bytes()[0] != want {
				t.Fatalf("%+v: want %d: %v %v", strategy, want, ok, err)
			}
			msg.Release()
		}
		read(1) // past a dead producer
		for b := byte(2); b < 4; b++ {
			mustSend(t, p, []byte{b})
		}
		deadOwnerRecord(t, r, 3, roleConsumer, 2, 3)
		claimPast(t, r.u64At(headOffset), 2, 3)
		if ok, err := p.Send(ctx, []byte{4}); !ok {
			t.Fatalf("%+v: send past a dead consumer: %v %v", strategy, ok, err)
		}
		read(3)
		read(4)
		if dropped, lost := recoveryCounts(t, r); dropped != 1 || lost != 1 {
			t.Fatalf("%+v: dropped %d lost %d, want 1 and 1", strategy, dropped, lost)
		}
	}
}

// Real processes, killed while holding a claim: a producer after its
// reservation, a consumer after its read.
func TestMPMCKilledOwnersAreRecoveredAcrossProcesses(t *testing.T) {
	t.Run("producer", func(t *testing.T) {
		r := testRing(t, MPMCOptions(8, 32, 8))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		p.TrySend([]byte{0})
		child := startChild(t, "mpmc-producer-reserves", r.Path()) // position 1
		p.TrySend([]byte{2})
		if got := readUntil(t, c); got != 0 {
			t.Fatalf("first message: %d", got)
		}
		expectStuck(t, tryRead(c))
		killChild(t, child)
		if got := readUntil(t, c); got != 2 {
			t.Fatalf("after the kill: %d", got)
		}
		expectDrained(t, c)
		if dropped, lost := recoveryCounts(t, r); dropped != 1 || lost != 0 {
			t.Fatalf("dropped %d lost %d, want 1 and 0", dropped, lost)
		}
	})
	t.Run("consumer", func(t *testing.T) {
		r := testRing(t, MPMCOptions(4, 32, 8))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		for b := byte(0); b < 4; b++ {
			p.TrySend([]byte{b})
		}
		child := startChild(t, "mpmc-consumer-reads", r.Path()) // position 0
		for _, want := range []byte{1, 2, 3} {
			if got := readUntil(t, c); got != want {
				t.Fatalf("message %d: %d", want, got)
			}
		}
		expectStuck(t, trySend(p, []byte{4}))
		killChild(t, child)
		sendUntil(t, p, []byte{4})
		if got := readUntil(t, c); got != 4 {
			t.Fatalf("after the kill: %d", got)
		}
		expectDrained(t, c)
		if dropped, lost := recoveryCounts(t, r); dropped != 0 || lost != 1 {
			t.Fatalf("dropped %d lost %d, want 0 and 1", dropped, lost)
		}
	})
}
