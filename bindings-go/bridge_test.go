package shmlane

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bridgeKinds are the rings the bridge is tested on: small, so that the
// producer laps the ring often and would overwrite a slot reused too early.
var bridgeKinds = []Options{SPSCOptions(16, 64), SPSCFixedOptions(16, 24), MPMCOptions(16, 64, 4), MPMCFixedOptions(16, 24, 4)}

func kindName(opts Options) string {
	name := opts.Kind.String()
	if opts.FixedSize {
		name += "-fixed"
	}
	return name
}

// sequenced writes message seq of a test stream into buf: its sequence
// number, then bytes that depend on it (a checksum of sorts); its length
// varies with seq unless the ring's messages are of fixed size.
func sequenced(buf []byte, seq uint64, fixed bool) []byte {
	n := len(buf)
	if !fixed {
		n = 8 + int(seq%uint64(len(buf)-7))
	}
	message := buf[:n]
	binary.LittleEndian.PutUint64(message, seq)
	for i := 8; i < n; i++ {
		message[i] = byte(seq*31 + uint64(i))
	}
	return message
}

// sequenceOf checks message as sequenced wrote it; ok is false for a message
// whose bytes do not match its sequence number (a torn or reused slot).
func sequenceOf(message []byte, fixed bool, max int) (seq uint64, ok bool) {
	if len(message) < 8 {
		return 0, false
	}
	seq = binary.LittleEndian.Uint64(message)
	want := max
	if !fixed {
		want = 8 + int(seq%uint64(max-7))
	}
	if len(message) != want {
		return seq, false
	}
	for i := 8; i < len(message); i++ {
		if message[i] != byte(seq*31+uint64(i)) {
			return seq, false
		}
	}
	return seq, true
}

// produceSequenced sends messages 0 .. count-1 with Send, then closes p.
func produceSequenced(ctx context.Context, p *Producer, count uint64, fixed bool) error {
	buf := make([]byte, p.MaxPayload())
	for seq := uint64(0); seq < count; seq++ {
		if ok, err := p.Send(ctx, sequenced(buf, seq, fixed)); !ok {
			return errors.Join(errors.New("send"), err, ctx.Err())
		}
	}
	return p.Close()
}

// startProducing sends messages 0 .. count-1 from a goroutine of its own,
// which the test's cleanup stops and waits for before the ring is closed
// (a test that failed early may leave it blocked); the channel has its
// result.
func startProducing(t *testing.T, p *Producer, count uint64, fixed bool) <-chan error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
	result := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		result <- produceSequenced(ctx, p, count, fixed)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return result
}

// Several workers take messages from the bridge and release them in random
// order; each message is checked when it arrives and again just before its
// release (a slot reused while held would fail the second check), and every
// message is delivered exactly once.
func TestBridgeWorkersReleasingInRandomOrderGetEveryMessageOnceIntact(t *testing.T) {
	const messages = 20000
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			produced := startProducing(t, p, messages, opts.FixedSize)

			b := c.Chan(ctx, 12)
			seen := make([]atomic.Int32, messages)
			var workers sync.WaitGroup
			var failures atomic.Int64
			for w := 0; w < 4; w++ {
				workers.Add(1)
				go func(seed uint64) {
					defer workers.Done()
					rng := rand.New(rand.NewPCG(seed, 18))
					var held []BorrowedMessage
					check := func(m BorrowedMessage) uint64 {
						seq, ok := sequenceOf(m.Bytes(), opts.FixedSize, c.MaxPayload())
						if !ok || seq >= messages {
							failures.Add(1)
							return 0
						}
						return seq
					}
					releaseOne := func() {
						i := rng.IntN(len(held))
						check(held[i]) // still intact: not reused while held
						held[i].Release()
						held[i] = held[len(held)-1]
						held = held[:len(held)-1]
					}
					for {
						var m BorrowedMessage
						var ok bool
						if len(held) == 0 {
							m, ok = <-b.C
						} else {
							select {
							case m, ok = <-b.C:
							default:
								releaseOne() // nothing waiting: give something back
								continue
							}
						}
						if !ok {
							for len(held) > 0 {
								releaseOne()
							}
							return
						}
						seen[check(m)].Add(1)
						held = append(held, m)
						if len(held) > 2 || rng.IntN(3) == 0 {
							releaseOne()
						}
					}
				}(uint64(w))
			}
			workers.Wait()
			if err := b.Wait(); !errors.Is(err, ErrDisconnected) {
				t.Fatalf("bridge ended with %v, want ErrDisconnected", err)
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			if n := failures.Load(); n > 0 {
				t.Fatalf("%d checks found a message torn or overwritten", n)
			}
			for seq := range seen {
				if n := seen[seq].Load(); n != 1 {
					t.Fatalf("message %d delivered %d times", seq, n)
				}
			}
		})
	}
}

// The bridge is cancelled mid-stream, several times: every message is
// delivered exactly once, by the bridge or by reads of the consumer after it.
func TestBridgeCancelledMidStreamLosesNothing(t *testing.T) {
	const messages = 3000
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			produced := startProducing(t, p, messages, opts.FixedSize)

			seen := make([]int, messages)
			record := func(message []byte) {
				seq, ok := sequenceOf(message, opts.FixedSize, c.MaxPayload())
				if !ok || seq >= messages {
					t.Fatalf("message %x is not one of the stream", message)
				}
				seen[seq]++
			}
			disconnected := false
			for round := 0; !disconnected; round++ {
				// A bridge for a stretch of about 100 messages, the last few
				// of which stay held until after the cancellation, then a
				// few plain reads.
				bridgeCtx, stop := context.WithCancel(ctx)
				depth := 1 + round%8
				b := c.Chan(bridgeCtx, depth)
				var held []BorrowedMessage
				releaseHeld := func() {
					// Out of order: the middle one, then the others.
					held[len(held)/2].Release()
					for _, m := range held {
						m.Release()
					}
					held = held[:0]
				}
				for {
					var m BorrowedMessage
					var ok bool
					if len(held) == 0 {
						m, ok = <-b.C
					} else {
						select {
						case m, ok = <-b.C:
						default:
							// Nothing waiting (an MPMC bridge claims again
							// once all it delivered is released).
							releaseHeld()
							continue
						}
					}
					if !ok {
						break
					}
					record(m.Bytes())
					held = append(held, m)
					if seq := binary.LittleEndian.Uint64(m.Bytes()); seq%100 == uint64(round%100) {
						stop()
					}
					if len(held) == min(3, depth) {
						releaseHeld()
					}
				}
				stop()
				for _, m := range held {
					if _, ok := sequenceOf(m.Bytes(), opts.FixedSize, c.MaxPayload()); !ok {
						t.Fatal("a message handed out was overwritten after the bridge ended")
					}
					m.Release()
				}
				err := b.Wait()
				if errors.Is(err, ErrDisconnected) {
					break
				}
				if err != nil {
					t.Fatalf("bridge ended with %v", err)
				}
				for i := 0; i < 5; i++ {
					msg, ok, err := c.Read(ctx)
					if errors.Is(err, ErrDisconnected) {
						disconnected = true
						break
					}
					if !ok {
						t.Fatalf("read after bridge %d: ok %v, %v", round, ok, err)
					}
					record(msg.Bytes())
					msg.Release()
				}
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			for seq, n := range seen {
				if n != 1 {
					t.Fatalf("message %d delivered %d times", seq, n)
				}
			}
		})
	}
}

// Messages read ahead and never delivered when the bridge is cancelled are
// the consumer's next reads, in order.
func TestBridgeLeavesUndeliveredMessagesToTheConsumer(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			buf := make([]byte, p.MaxPayload())
			for seq := uint64(0); seq < 8; seq++ {
				mustSend(t, p, sequenced(buf, seq, opts.FixedSize))
			}
			ctx, cancel := context.WithCancel(context.Background())
			b := c.Chan(ctx, 8)
			var held []BorrowedMessage
			for m := range b.C {
				held = append(held, m)
				if len(held) == 3 {
					cancel()
				}
			}
			cancel()
			for i, m := range held {
				if seq, ok := sequenceOf(m.Bytes(), opts.FixedSize, c.MaxPayload()); !ok || seq != uint64(i) {
					t.Fatalf("message %d handed out: %d %v", i, seq, ok)
				}
			}
			// Released after the bridge ended, from goroutines of their own.
			var releasers sync.WaitGroup
			for i := len(held) - 1; i >= 0; i-- {
				releasers.Add(1)
				go func(m BorrowedMessage) {
					defer releasers.Done()
					m.Release()
				}(held[i])
			}
			releasers.Wait()
			if err := b.Wait(); err != nil {
				t.Fatalf("cancelled bridge: %v", err)
			}
			for want := uint64(len(held)); want < 8; want++ {
				msg, ok, err := c.TryRead()
				if !ok {
					t.Fatalf("message %d after the bridge: %v %v", want, ok, err)
				}
				if seq, ok := sequenceOf(msg.Bytes(), opts.FixedSize, c.MaxPayload()); !ok || seq != want {
					t.Fatalf("read %d after the bridge, want %d", seq, want)
				}
				msg.Release()
			}
			expectEmpty(t, c)
		})
	}
}

// sendUntilFull sends until the ring is full; returns how many it sent. The
// loop runs for a few milliseconds at least, so that an MPMC producer's
// crash recovery (after a stall of 1 ms) would free a held slot if it took
// its owner for dead.
func sendUntilFull(t *testing.T, p *Producer, buf []byte) int {
	t.Helper()
	sent := 0
	start := time.Now()
	for fullSeen := 0; fullSeen < 1000 || time.Since(start) < 5*time.Millisecond; {
		ok, err := p.TrySend(buf)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if fullSeen > 0 {
				t.Fatalf("a slot came free after the ring was full")
			}
			sent++
		} else {
			fullSeen++
		}
	}
	return sent
}

// A message held by a slow worker keeps its own slot from reuse and nothing
// before it: with message 3 of 8 held and the rest released, the producer
// refills exactly the three slots before it; once it is released, the rest.
func TestBridgeSlowWorkerHoldsBackOnlyItsOwnSlot(t *testing.T) {
	for _, opts := range []Options{SPSCOptions(8, 64), MPMCOptions(8, 64, 4)} {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			buf := make([]byte, p.MaxPayload())
			for seq := uint64(0); seq < 8; seq++ {
				mustSend(t, p, sequenced(buf, seq, false))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := c.Chan(ctx, 8)
			var slow BorrowedMessage
			for i := 0; i < 8; i++ {
				m := <-b.C
				if i == 3 {
					slow = m
					continue
				}
				m.Release()
			}
			if sent := sendUntilFull(t, p, []byte("overwrite")); sent != 3 {
				t.Fatalf("with message 3 held the producer sent %d, want 3", sent)
			}
			if seq, ok := sequenceOf(slow.Bytes(), false, c.MaxPayload()); !ok || seq != 3 {
				t.Fatalf("held message changed: %d %v", seq, ok)
			}
			slow.Release()
			if sent := sendUntilFull(t, p, []byte("overwrite")); sent != 5 {
				t.Fatalf("after its release the producer sent %d, want 5", sent)
			}
			for i := 0; i < 8; i++ {
				m := <-b.C
				if string(m.Bytes()) != "overwrite" {
					t.Fatalf("message %q", m.Bytes())
				}
				m.Release()
			}
			cancel()
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A released message is caught by the generation check: Bytes is nil, and
// releasing it again releases nothing else.
func TestBridgeMessageUsedAfterReleaseIsCaught(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 64))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	for i := 0; i < 4; i++ {
		mustSend(t, p, []byte{byte(i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := c.Chan(ctx, 4)
	first, second := <-b.C, <-b.C
	first.Release()
	if first.Bytes() != nil || first.Len() != 0 {
		t.Fatalf("a released message reads %v", first.Bytes())
	}
	first.Release()
	if got := second.Bytes(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("second message after a double release of the first: %v", got)
	}
	// Only the first slot is free: the double release did not free the second.
	if sent := sendUntilFull(t, p, []byte{9}); sent != 1 {
		t.Fatalf("producer sent %d, want 1", sent)
	}
	var zero BorrowedMessage
	zero.Release()
	if zero.Bytes() != nil {
		t.Fatal("the zero message has bytes")
	}
	cancel()
	for m := range b.C {
		m.Release()
	}
	second.Release()
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestBridgeOfAClosedConsumerEndsWithErrClosed(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 64))
	c := mustConsumer(t, r)
	c.Close()
	b := c.Chan(context.Background(), 4)
	if _, ok := <-b.C; ok {
		t.Fatal("a message from a closed consumer")
	}
	if err := b.Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v, want ErrClosed", err)
	}
}

// A message with an impossible length ends the bridge after the messages
// before it; the consumer's next read reports and skips it, then goes on.
func TestBridgeEndsBeforeAMessageWithAnImpossibleLength(t *testing.T) {
	for _, opts := range []Options{SPSCOptions(8, 64), MPMCOptions(8, 64, 4)} {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			for i := 0; i < 4; i++ {
				mustSend(t, p, []byte{byte(i)})
			}
			*p.a.lenWord(2) = 1 << 20 // a hostile producer's length
			b := c.Chan(context.Background(), 8)
			var got []byte
			for m := range b.C {
				got = append(got, m.Bytes()...)
				m.Release()
			}
			if err := b.Wait(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bridge ended with %v, want ErrCorrupt", err)
			}
			if string(got) != "\x00\x01" {
				t.Fatalf("delivered %v before the corrupt message", got)
			}
			if _, _, err := c.TryRead(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("next read: %v, want ErrCorrupt", err)
			}
			if msg, ok, err := c.TryRead(); !ok || msg.Bytes()[0] != 3 {
				t.Fatalf("the message after it: %v %v", ok, err)
			}
		})
	}
}

// The zero-copy path allocates nothing per message: publish, receive from
// the bridge, release (the bridge goroutine's allocations count too).
func TestBridgeAllocatesNothingPerMessage(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			msg := make([]byte, 8)
			if opts.FixedSize {
				msg = make([]byte, p.MaxPayload())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := c.Chan(ctx, 4)
			allocs := testing.AllocsPerRun(1000, func() {
				if ok, err := p.TrySend(msg); !ok {
					t.Fatal(ok, err)
				}
				m := <-b.C
				if m.Len() != len(msg) {
					t.Fatalf("message of %d bytes", m.Len())
				}
				m.Release()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per message", allocs)
			}
			cancel()
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The copying bridge delivers every message once, intact, to several
// workers, and its buffers go round through Recycle.
func TestCopyBridgeDeliversEveryMessageOnceToSeveralWorkers(t *testing.T) {
	const messages = 20000
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			produced := startProducing(t, p, messages, opts.FixedSize)
			b := c.ChanCopy(ctx, 8)
			seen := make([]atomic.Int32, messages)
			var failures atomic.Int64
			var workers sync.WaitGroup
			for w := 0; w < 4; w++ {
				workers.Add(1)
				go func() {
					defer workers.Done()
					for message := range b.C {
						seq, ok := sequenceOf(message, opts.FixedSize, c.MaxPayload())
						if !ok || seq >= messages {
							failures.Add(1)
							continue
						}
						seen[seq].Add(1)
						b.Recycle(message)
					}
				}()
			}
			workers.Wait()
			if err := b.Wait(); !errors.Is(err, ErrDisconnected) {
				t.Fatalf("bridge ended with %v, want ErrDisconnected", err)
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			if n := failures.Load(); n > 0 {
				t.Fatalf("%d messages torn", n)
			}
			for seq := range seen {
				if n := seen[seq].Load(); n != 1 {
					t.Fatalf("message %d delivered %d times", seq, n)
				}
			}
		})
	}
}

// A copying bridge cancelled mid-stream, again and again, loses nothing:
// the message it read and could not deliver is the consumer's next.
func TestCopyBridgeCancelledMidStreamLosesNothing(t *testing.T) {
	const messages = 3000
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			produced := startProducing(t, p, messages, opts.FixedSize)
			next := uint64(0)
			expect := func(message []byte) {
				if seq, ok := sequenceOf(message, opts.FixedSize, c.MaxPayload()); !ok || seq != next {
					t.Fatalf("message %d (%v), want %d", seq, ok, next)
				}
				next++
			}
			buf := make([]byte, c.MaxPayload())
			for round := 0; ; round++ {
				bridgeCtx, stop := context.WithCancel(ctx)
				b := c.ChanCopy(bridgeCtx, 2)
				for message := range b.C {
					expect(message)
					if next%50 == uint64(round%50) {
						stop()
					}
				}
				stop()
				err := b.Wait()
				if errors.Is(err, ErrDisconnected) {
					break
				}
				if err != nil {
					t.Fatalf("bridge ended with %v", err)
				}
				n, ok, err := c.Recv(ctx, buf)
				if errors.Is(err, ErrDisconnected) {
					break
				}
				if !ok {
					t.Fatalf("read after bridge %d: %v %v", round, ok, err)
				}
				expect(buf[:n])
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			if next != messages {
				t.Fatalf("%d messages delivered, want %d", next, messages)
			}
		})
	}
}

func TestCopyBridgeOfAClosedConsumerEndsWithErrClosed(t *testing.T) {
	r := testRing(t, SPSCOptions(4, 64))
	c := mustConsumer(t, r)
	c.Close()
	b := c.ChanCopy(context.Background(), 4)
	if _, ok := <-b.C; ok {
		t.Fatal("a message from a closed consumer")
	}
	if err := b.Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v, want ErrClosed", err)
	}
}

// With every slice recycled, the copying bridge allocates nothing per
// message.
func TestCopyBridgeAllocatesNothingPerRecycledMessage(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			msg := make([]byte, 8)
			if opts.FixedSize {
				msg = make([]byte, p.MaxPayload())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := c.ChanCopy(ctx, 4)
			allocs := testing.AllocsPerRun(1000, func() {
				if ok, err := p.TrySend(msg); !ok {
					t.Fatal(ok, err)
				}
				message := <-b.C
				if len(message) != len(msg) {
					t.Fatalf("message of %d bytes", len(message))
				}
				b.Recycle(message)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per message", allocs)
			}
			cancel()
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// In an MPMC ring a bridge shares the stream with another consumer and two
// producers: every message reaches exactly one of the two consumers.
func TestBridgeSharesAnMPMCRingWithAnotherConsumer(t *testing.T) {
	const perProducer = 5000
	r := testRing(t, MPMCOptions(16, 64, 6))
	producers := []*Producer{mustProducer(t, r), mustProducer(t, r)}
	bridged, plain := mustConsumer(t, r), mustConsumer(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
	defer cancel()
	var producing sync.WaitGroup
	for i, p := range producers {
		producing.Add(1)
		go func(p *Producer, first uint64) {
			defer producing.Done()
			buf := make([]byte, p.MaxPayload())
			for seq := first; seq < first+perProducer; seq++ {
				if ok, err := p.Send(ctx, sequenced(buf, seq, false)); !ok {
					t.Errorf("send %d: %v", seq, err)
					return
				}
			}
			p.Close()
		}(p, uint64(i)*perProducer)
	}
	t.Cleanup(producing.Wait)
	seen := make([]atomic.Int32, 2*perProducer)
	check := func(message []byte) {
		seq, ok := sequenceOf(message, false, bridged.MaxPayload())
		if !ok || seq >= 2*perProducer {
			t.Errorf("message %x is not one of the stream", message)
			return
		}
		seen[seq].Add(1)
	}
	b := bridged.Chan(ctx, 8)
	var consuming sync.WaitGroup
	for w := 0; w < 2; w++ {
		consuming.Add(1)
		go func() {
			defer consuming.Done()
			for m := range b.C {
				check(m.Bytes())
				m.Release()
			}
		}()
	}
	plainErr := plain.ReadFunc(ctx, func(message []byte) error {
		check(message)
		return nil
	})
	consuming.Wait()
	if err := b.Wait(); !errors.Is(err, ErrDisconnected) || !errors.Is(plainErr, ErrDisconnected) {
		t.Fatalf("bridge ended with %v, the other consumer with %v; want ErrDisconnected", err, plainErr)
	}
	for seq := range seen {
		if n := seen[seq].Load(); n != 1 {
			t.Fatalf("message %d delivered %d times", seq, n)
		}
	}
}

// A bridge whose context is done before it starts takes nothing.
func TestBridgeWithAContextAlreadyDoneLeavesTheRingAsItWas(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			buf := make([]byte, p.MaxPayload())
			for seq := uint64(0); seq < 4; seq++ {
				mustSend(t, p, sequenced(buf, seq, opts.FixedSize))
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			b := c.Chan(ctx, 4)
			var delivered []BorrowedMessage
			for m := range b.C { // the bridge may still deliver: it has nothing else to do
				delivered = append(delivered, m)
			}
			for _, m := range delivered {
				m.Release()
			}
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
			for want := uint64(len(delivered)); want < 4; want++ {
				msg, ok, err := c.TryRead()
				if !ok {
					t.Fatalf("message %d: %v %v", want, ok, err)
				}
				if seq, ok := sequenceOf(msg.Bytes(), opts.FixedSize, c.MaxPayload()); !ok || seq != want {
					t.Fatalf("read %d, want %d", seq, want)
				}
			}
			expectEmpty(t, c)
		})
	}
}

// Impossible positions or stamps, written by a hostile peer while the
// bridge waits, end it with ErrCorrupt: no panic, no read outside the ring.
func TestBridgeEndsWithErrCorruptOnImpossiblePositionsOrStamps(t *testing.T) {
	for _, opts := range []Options{SPSCOptions(8, 64), MPMCOptions(8, 64, 4)} {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			mustSend(t, p, []byte{1})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			b := c.Chan(ctx, 4)
			m := <-b.C
			m.Release()
			hostile := mapAgain(t, r)
			if opts.Kind == MPMC {
				// The slot of position 1 claims a message of position 6.
				g := r.Geometry()
				binary.LittleEndian.PutUint64(hostile[g.SlotsOffset+g.SlotSize:], 7)
			} else {
				// tail three laps ahead of head.
				binary.LittleEndian.PutUint64(hostile[tailOffset:], 1+3*8)
			}
			for m := range b.C {
				t.Fatalf("a message from a corrupt ring: %v", m.Bytes())
			}
			if err := b.Wait(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bridge ended with %v, want ErrCorrupt", err)
			}
		})
	}
}
