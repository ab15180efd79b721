package shmlane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestSPSCZeroCopyRoundTrip(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 64))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	slot, ok, err := p.TryReserve()
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(slot.Bytes()) != 56 || p.MaxPayload() != 56 {
		t.Fatalf("slot of %d bytes", len(slot.Bytes()))
	}
	copy(slot.Bytes(), "hello")
	if err := slot.Commit(5); err != nil {
		t.Fatal(err)
	}
	msg, ok, err := c.TryRead()
	if !ok || string(msg.Bytes()) != "hello" {
		t.Fatalf("read %q %v %v", msg.Bytes(), ok, err)
	}
	msg.Release()
	expectEmpty(t, c)
}

func TestSPSCReserveOnFullRingIsNotOkAndReadOnEmptyIsNotOk(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 16))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	expectEmpty(t, c)
	if _, ok, err := c.TryReadBatch(4); ok || err != nil {
		t.Fatalf("batch of an empty ring: %v %v", ok, err)
	}
	for i := 0; i < 4; i++ {
		mustSend(t, p, []byte{byte(i)})
	}
	expectFull(t, p)
	if _, ok, err := p.TryReserveBatch(4); ok || err != nil {
		t.Fatalf("batch of a full ring: %v %v", ok, err)
	}
	buf := make([]byte, 8)
	for i := 0; i < 4; i++ {
		n, ok, err := c.TryRecv(buf)
		if !ok || err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("recv %d: %d %v %v %v", i, n, buf[:n], ok, err)
		}
	}
	if n, ok, err := c.TryRecv(buf); n != 0 || ok || err != nil {
		t.Fatalf("drained ring: %d %v %v", n, ok, err)
	}
}

func TestSPSCMessagesSurviveManyWrapsWithEveryLength(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 40))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	buf := make([]byte, 32)
	msg := make([]byte, 32)
	for i := 0; i < 1000; i++ {
		n := i % 33
		for j := range msg[:n] {
			msg[j] = byte(i + j)
		}
		mustSend(t, p, msg[:n])
		got, ok, err := c.TryRecv(buf)
		if !ok || !bytes.Equal(buf[:got], msg[:n]) {
			t.Fatalf("message %d: %v %v %v", i, buf[:got], ok, err)
		}
	}
	info, err := r.Info()
	if err != nil || info.Head != 1000 || info.Tail != 1000 {
		t.Fatalf("info %+v %v", info, err)
	}
}

func TestSPSCAbortAndStaleSlotsPublishNothing(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 16))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	slot, _, _ := p.TryReserve()
	copy(slot.Bytes(), "x")
	slot.Abort()
	if err := slot.Commit(1); err != ErrStaleSlot {
		t.Fatalf("commit after abort: %v", err)
	}
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("aborted slot was published: %v %v", ok, err)
	}
	first, _, _ := p.TryReserve()
	second, _, _ := p.TryReserve() // supersedes the first
	if err := first.Commit(1); err != ErrStaleSlot {
		t.Fatalf("superseded slot: %v", err)
	}
	if err := second.Commit(0); err != nil {
		t.Fatal(err)
	}
	if err := second.Commit(0); err != ErrStaleSlot {
		t.Fatalf("second commit: %v", err)
	}
	msg, ok, err := c.TryRead()
	if !ok || msg.Len() != 0 {
		t.Fatalf("empty message: %v %v %v", msg.Bytes(), ok, err)
	}
}

func TestSPSCSizesAreChecked(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 16))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	if ok, err := p.TrySend(make([]byte, 9)); ok || !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("9 bytes into 8: %v %v", ok, err)
	}
	slot, _, _ := p.TryReserve()
	if err := slot.Commit(9); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("commit 9: %v", err)
	}
	mustSend(t, p, []byte("12345678"))
	small := make([]byte, 4)
	if _, ok, err := c.TryRecv(small); ok || !errors.Is(err, ErrBufferTooSmall) {
		t.Fatalf("small buffer: %v %v", ok, err)
	}
	big := make([]byte, 8)
	if n, ok, err := c.TryRecv(big); !ok || string(big[:n]) != "12345678" {
		t.Fatalf("the kept message: %q %v %v", big[:n], ok, err)
	}
}

func TestSPSCFixedSizeRingsCarryExactMessagesContiguously(t *testing.T) {
	r := testRing(t, SPSCFixedOptions(8, 8))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	if ok, err := p.TrySend([]byte{1, 2, 3}); ok || !errors.Is(err, ErrWrongMessageSize) {
		t.Fatalf("short message: %v %v", ok, err)
	}
	// Move to position 5 so that a batch of 6 wraps.
	for i := 0; i < 5; i++ {
		p.TrySend(make([]byte, 8))
		c.TryRecv(make([]byte, 8))
	}
	batch, ok, err := p.TryReserveBatch(6)
	if !ok || batch.Len() != 6 {
		t.Fatalf("batch %d %v %v", batch.Len(), ok, err)
	}
	first, second, ok := batch.Slices()
	if !ok || len(first) != 3*8 || len(second) != 3*8 {
		t.Fatalf("runs %d %d %v", len(first), len(second), ok)
	}
	for i := 0; i < 6; i++ {
		run, at := first, i
		if i >= 3 {
			run, at = second, i-3
		}
		binary.LittleEndian.PutUint64(run[at*8:], uint64(100+i))
	}
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	read, ok, err := c.TryReadBatch(10)
	if !ok || read.Len() != 6 {
		t.Fatalf("read batch %d %v %v", read.Len(), ok, err)
	}
	for i := 0; i < 6; i++ {
		if v := binary.LittleEndian.Uint64(read.Message(i)); v != uint64(100+i) {
			t.Fatalf("message %d is %d", i, v)
		}
	}
	rf, rs, ok := read.Slices()
	if !ok || len(rf)+len(rs) != 48 {
		t.Fatal("read runs")
	}
	read.Release()
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("after the batch: %v %v", ok, err)
	}
}

func TestSPSCBatchesAcrossTheWrapWithLengths(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 24))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	for i := 0; i < 6; i++ {
		p.TrySend([]byte{1})
		c.TryRecv(make([]byte, 16))
	}
	batch, ok, err := p.TryReserveBatch(100)
	if !ok || batch.Len() != 8 {
		t.Fatalf("batch of %d: %v %v", batch.Len(), ok, err)
	}
	if _, _, ok := batch.Slices(); ok {
		t.Fatal("runs of a variable-length ring")
	}
	for i := 0; i < 8; i++ {
		if i == 3 {
			continue // left unset: an empty message
		}
		if err := batch.Write(i, bytes.Repeat([]byte{byte(i)}, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.SetLen(0, 17); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("SetLen 17: %v", err)
	}
	if err := batch.CommitFirst(5); err != nil {
		t.Fatal(err)
	}
	read, ok, err := c.TryReadBatch(3)
	if !ok || read.Len() != 3 {
		t.Fatalf("first read batch: %d %v %v", read.Len(), ok, err)
	}
	rest, ok, err := c.TryReadBatch(10) // releases the first batch
	if !ok || rest.Len() != 2 {
		t.Fatalf("second read batch: %d %v %v", rest.Len(), ok, err)
	}
	if len(rest.Message(0)) != 0 || !bytes.Equal(rest.Message(1), []byte{4, 4, 4, 4}) {
		t.Fatalf("messages %v %v", rest.Message(0), rest.Message(1))
	}
	rest.Release()
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("after commit-first: %v %v", ok, err)
	}
}

func TestSPSCSecondProducerIsRefusedThenTakesOverAfterClose(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 16))
	p, err := r.JoinProducer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.JoinProducer(); !errors.Is(err, ErrRoleTaken) {
		t.Fatalf("second producer: %v", err)
	}
	p.TrySend([]byte("a"))
	p.Close()
	if err := p.Close(); err != ErrClosed {
		t.Fatalf("second close: %v", err)
	}
	if _, ok, err := p.TryReserve(); ok || err != ErrClosed {
		t.Fatalf("closed producer: %v %v", ok, err)
	}
	again := mustProducer(t, r)
	again.TrySend([]byte("b"))
	c := mustConsumer(t, r)
	for _, want := range []string{"a", "b"} {
		msg, ok, err := c.TryRead()
		if !ok || string(msg.Bytes()) != want {
			t.Fatalf("want %q: %q %v %v", want, msg.Bytes(), ok, err)
		}
	}
	info, _ := r.Info()
	if info.Participants[0].Generation != 2 || info.Participants[0].State != ParticipantAlive {
		t.Fatalf("producer record %+v", info.Participants[0])
	}
}

func TestSPSCConsumerDrainsThenSeesDisconnected(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 16))
	p, _ := r.JoinProducer()
	c := mustConsumer(t, r)
	p.TrySend([]byte("1"))
	p.TrySend([]byte("2"))
	p.Close()
	for i := 0; i < 2; i++ {
		if _, ok, err := c.TryRead(); !ok {
			t.Fatalf("drain %d: %v %v", i, ok, err)
		}
	}
	if _, ok, err := c.TryRead(); ok || err != ErrDisconnected {
		t.Fatalf("after the producer left: %v %v", ok, err)
	}
	if !c.IsDisconnected() {
		t.Fatal("IsDisconnected")
	}
}

func TestSPSCProducerSeesDisconnectedOnlyWhenFull(t *testing.T) {
	r := testRing(t, SPSCOptions(2, 16))
	p := mustProducer(t, r)
	c, _ := r.JoinConsumer()
	c.Close()
	for i := 0; i < 2; i++ {
		mustSend(t, p, []byte{1})
	}
	if ok, err := p.TrySend([]byte{1}); ok || err != ErrDisconnected {
		t.Fatalf("full, consumer gone: %v %v", ok, err)
	}
}

func TestSPSCNotYetJoinedIsEmptyNotDisconnected(t *testing.T) {
	r := testRing(t, SPSCOptions(2, 16))
	c := mustConsumer(t, r)
	expectEmpty(t, c) // no producer yet
	if c.IsDisconnected() {
		t.Fatal("disconnected before anyone joined")
	}
}

func TestSPSCKilledProducerIsDrainedThenTakenOver(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 16))
	c := mustConsumer(t, r)
	child := startChild(t, "producer-sends-3", r.Path())
	if _, err := r.JoinProducer(); !errors.Is(err, ErrRoleTaken) {
		t.Fatalf("while the child lives: %v", err)
	}
	killChild(t, child)
	for i := 0; i < 3; i++ {
		msg, ok, err := c.TryRead()
		if !ok || msg.Bytes()[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, ok, err)
		}
	}
	var err error
	for i := 0; i < 1000 && err != ErrDisconnected; i++ {
		_, _, err = c.TryRead()
	}
	if err != ErrDisconnected {
		t.Fatalf("after the kill: %v", err)
	}
	info, _ := r.Info()
	if info.Participants[0].State != ParticipantDead {
		t.Fatalf("dead producer's record: %+v", info.Participants[0])
	}
	p := mustProducer(t, r)
	mustSend(t, p, []byte{7})
	msg, ok, err := c.TryRead()
	if !ok || msg.Bytes()[0] != 7 {
		t.Fatalf("after takeover: %v %v", ok, err)
	}
}

func TestSPSCKilledSleeperIsUndoneByTheNextConsumer(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 16))
	child := startChild(t, "consumer-sleeps", r.Path())
	info, _ := r.Info()
	if info.DataWaits.Sleepers != 1 || info.DataWaits.Waiters != 1 {
		t.Fatalf("the child sleeps: %+v", info.DataWaits)
	}
	killChild(t, child)
	c := mustConsumer(t, r)
	info, _ = r.Info()
	if info.DataWaits.Sleepers != 0 || info.DataWaits.Waiters != 0 {
		t.Fatalf("after takeover: %+v", info.DataWaits)
	}
	_ = c
}

// A producer and a consumer goroutine move checksummed messages of lengths
// 0, 1, the maximum and random through a 16-slot ring, one at a time and in
// batches, with the blocking calls, pausing now and then so that the ring
// fills and empties often.
func TestSPSCStreamOfEveryLengthBetweenGoroutines(t *testing.T) {
	const messages = 200000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, batched := range []bool{false, true} {
		r := testRing(t, SPSCOptions(16, 64))
		p, c := mustProducer(t, r), mustConsumer(t, r)
		max := p.MaxPayload()
		lengthOf := func(seq uint64) int {
			switch seq % 4 {
			case 0:
				return 0
			case 1:
				return 1
			case 2:
				return max
			}
			return int(seq*2654435761>>7) % (max + 1)
		}
		fill := func(b []byte, seq uint64) {
			for i := range b {
				b[i] = byte(seq*31 + uint64(i))
			}
		}
		errs := make(chan error, 1)
		go func() {
			defer p.Close()
			msg := make([]byte, max)
			for seq := uint64(0); seq < messages; {
				if seq%5000 == 0 {
					time.Sleep(50 * time.Microsecond) // let the ring empty
				}
				if batched {
					b, ok, err := p.ReserveBatch(ctx, int(min(7, messages-seq)))
					if !ok {
						errs <- fmt.Errorf("reserve batch: %v %w", ok, err)
						return
					}
					for i := 0; i < b.Len(); i++ {
						n := lengthOf(seq + uint64(i))
						fill(msg[:n], seq+uint64(i))
						b.Write(i, msg[:n])
					}
					seq += uint64(b.Len())
					b.Commit()
					continue
				}
				n := lengthOf(seq)
				fill(msg[:n], seq)
				if ok, err := p.Send(ctx, msg[:n]); !ok {
					errs <- fmt.Errorf("send: %v %w", ok, err)
					return
				}
				seq++
			}
			errs <- nil
		}()
		want := make([]byte, max)
		seq := uint64(0)
		check := func(got []byte) {
			n := lengthOf(seq)
			fill(want[:n], seq)
			if !bytes.Equal(got, want[:n]) {
				t.Fatalf("message %d: %d bytes %v", seq, len(got), got)
			}
			seq++
		}
		for {
			if seq%7000 == 0 {
				time.Sleep(50 * time.Microsecond) // let the ring fill
			}
			if batched {
				b, ok, err := c.ReadBatch(ctx, 5)
				if err == ErrDisconnected {
					break
				}
				if !ok {
					t.Fatal(ok, err)
				}
				for i := 0; i < b.Len(); i++ {
					check(b.Message(i))
				}
				b.Release()
				continue
			}
			m, ok, err := c.Read(ctx)
			if err == ErrDisconnected {
				break
			}
			if !ok {
				t.Fatal(ok, err)
			}
			check(m.Bytes())
			m.Release()
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if seq != messages {
			t.Fatalf("batched=%v: %d messages", batched, seq)
		}
	}
}

func TestHandlesOutliveTheirRing(t *testing.T) {
	name := uniqueName(t)
	r, err := Create(name, SPSCOptions(4, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(name)
	p, _ := r.JoinProducer()
	c, _ := r.JoinConsumer()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != ErrClosed {
		t.Fatalf("second close: %v", err)
	}
	if _, err := r.JoinProducer(); err != ErrClosed {
		t.Fatalf("join after close: %v", err)
	}
	mustSend(t, p, []byte("still"))
	if m, ok, err := c.TryRead(); !ok || string(m.Bytes()) != "still" {
		t.Fatalf("read: %v %v", ok, err)
	}
	p.Close()
	c.Close() // the last reference: unmaps
	if _, ok, err := c.TryRead(); ok || err != ErrClosed {
		t.Fatalf("read after close: %v %v", ok, err)
	}
}

// A consumer caught between closing its record and dropping its lock looks
// present; the moment the lock is gone the producer must see it gone, not
// trust the earlier lock test for the usual interval (a leaver's wake-up of a
// sleeping producer relies on it).
func TestProducerSeesALeavingConsumerGoneAsSoonAsItsLockIsReleased(t *testing.T) {
	r := testRing(t, SPSCOptions(2, 16))
	p := mustProducer(t, r)
	for _, m := range []string{"a", "b"} {
		mustSend(t, p, []byte(m))
	}
	// Play the leaving consumer: the record's lock on a description of its
	// own, the owner word already closed.
	fd, err := syscall.Open(r.Path(), syscall.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	record := r.geo.recordOffset(1)
	if ok, err := tryLockRecord(fd, record); !ok || err != nil {
		t.Fatalf("locking the consumer record: %v %v", ok, err)
	}
	atomic.StoreUint64(r.u64At(record+recOwner), ownerWord(1, roleConsumer, stateClosed))
	if ok, err := p.TrySend([]byte("c")); ok || err != nil {
		t.Fatalf("closed but locked: %v %v, want full", ok, err)
	}
	syscall.Close(fd) // the leaver's unlock
	if ok, err := p.TrySend([]byte("c")); ok || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("the consumer's lock is gone: %v %v, want ErrDisconnected", ok, err)
	}
}

// TrySend and TryRecv copy messages of every length whole, and TryRecv
// writes nothing of buf past the message: lengths of 8 to 64 bytes are
// copied by words, the others by copy.
func TestTrySendAndTryRecvCopyEveryLengthWhole(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 8+96))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	for n := 0; n <= p.MaxPayload(); n++ {
		message := make([]byte, n)
		for i := range message {
			message[i] = byte(n + i + 1)
		}
		mustSend(t, p, message)
		buf := bytes.Repeat([]byte{0xEE}, n+9)
		got, ok, err := c.TryRecv(buf)
		if !ok || err != nil || got != n {
			t.Fatalf("TryRecv of a %d-byte message: %d, %v, %v", n, got, ok, err)
		}
		if !bytes.Equal(buf[:n], message) {
			t.Fatalf("%d-byte message received as %x, want %x", n, buf[:n], message)
		}
		if !bytes.Equal(buf[n:], bytes.Repeat([]byte{0xEE}, 9)) {
			t.Fatalf("TryRecv of a %d-byte message wrote past it: %x", n, buf[n:])
		}
	}
}
