package shmlane

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

var strategies = map[string]WaitStrategy{
	"default":  DefaultWaitStrategy(),
	"spinning": SpinningWaitStrategy(),
	"sleeping": SleepingWaitStrategy(),
}

func TestBlockingCallsTimeOutAtTheDeadlineUnderEveryStrategy(t *testing.T) {
	for _, kind := range []Kind{SPSC, MPMC} {
		for name, strategy := range strategies {
			t.Run(kind.String()+"-"+name, func(t *testing.T) {
				opts := SPSCOptions(2, 16)
				if kind == MPMC {
					opts = MPMCOptions(2, 32, 4)
				}
				r := testRing(t, opts)
				p, c := mustProducer(t, r), mustConsumer(t, r)
				p.SetWaitStrategy(strategy)
				c.SetWaitStrategy(strategy)
				// A timeout is an outcome: ok false, no error.
				check := func(what string, call func(ctx context.Context) (bool, error)) {
					// The clock starts before the deadline is set, so that a
					// pause of this goroutine in between cannot make a call
					// that waited for its deadline look early.
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
					defer cancel()
					ok, err := call(ctx)
					elapsed := time.Since(start)
					if ok || err != nil || ctx.Err() != context.DeadlineExceeded {
						t.Fatalf("%s: ok %v, %v (context: %v)", what, ok, err, ctx.Err())
					}
					if elapsed < 19*time.Millisecond || elapsed > 2*time.Second {
						t.Fatalf("%s: returned after %v", what, elapsed)
					}
				}
				check("read", func(ctx context.Context) (bool, error) { _, ok, err := c.Read(ctx); return ok, err })
				check("read batch", func(ctx context.Context) (bool, error) { _, ok, err := c.ReadBatch(ctx, 4); return ok, err })
				check("recv", func(ctx context.Context) (bool, error) {
					_, ok, err := c.Recv(ctx, make([]byte, 16))
					return ok, err
				})
				mustSend(t, p, []byte{1})
				mustSend(t, p, []byte{2})
				check("reserve", func(ctx context.Context) (bool, error) { _, ok, err := p.Reserve(ctx); return ok, err })
				check("reserve batch", func(ctx context.Context) (bool, error) {
					_, ok, err := p.ReserveBatch(ctx, 4)
					return ok, err
				})
				check("send", func(ctx context.Context) (bool, error) { return p.Send(ctx, []byte{3}) })
				// A blocking call that can go on at once succeeds even with an expired context.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if _, ok, err := c.Read(ctx); !ok || err != nil {
					t.Fatalf("read with data and a cancelled context: %v %v", ok, err)
				}
			})
		}
	}
}

func TestBlockingCallsReturnOnCancellation(t *testing.T) {
	r := testRing(t, SPSCOptions(2, 16))
	_, c := mustProducer(t, r), mustConsumer(t, r)
	c.SetWaitStrategy(SleepingWaitStrategy())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, ok, err := c.Read(ctx)
	if ok || err != nil || ctx.Err() != context.Canceled || time.Since(start) > time.Second {
		t.Fatalf("cancelled read: %v %v (context: %v) after %v", ok, err, ctx.Err(), time.Since(start))
	}
	info, _ := r.Info()
	if info.DataWaits.Sleepers != 0 || info.DataWaits.Waiters != 0 {
		t.Fatalf("left registered: %+v", info.DataWaits)
	}
}

// All stops when its context ends: that is the end of the stream asked
// for, not an error; a message already published is still yielded.
func TestAllEndsWithoutAnErrorWhenTheContextEnds(t *testing.T) {
	for name, strategy := range strategies {
		t.Run(name, func(t *testing.T) {
			r := testRing(t, MPMCOptions(4, 32, 4))
			p, c := mustProducer(t, r), mustConsumer(t, r)
			c.SetWaitStrategy(strategy)
			mustSend(t, p, []byte("one"))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			var got []string
			for msg, err := range c.All(ctx) {
				if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				got = append(got, string(msg))
			}
			if len(got) != 1 || got[0] != "one" || ctx.Err() != context.DeadlineExceeded {
				t.Fatalf("messages %q, context %v", got, ctx.Err())
			}
		})
	}
}

// A sleeping consumer is woken by a producer's publish, and a sleeping
// producer by a consumer's release, in both kinds.
func TestSleepersAreWokenInBothDirections(t *testing.T) {
	for _, kind := range []Kind{SPSC, MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			opts := SPSCOptions(2, 16)
			if kind == MPMC {
				opts = MPMCOptions(2, 32, 4)
			}
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			c.SetWaitStrategy(SleepingWaitStrategy())
			p.SetWaitStrategy(SleepingWaitStrategy())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				time.Sleep(30 * time.Millisecond)
				ok, err := p.TrySend([]byte("late"))
				if !ok && err == nil {
					err = errors.New("full")
				}
				done <- err
			}()
			msg, ok, err := c.Read(ctx)
			if !ok || string(msg.Bytes()) != "late" {
				t.Fatalf("read: %q %v %v", msg.Bytes(), ok, err)
			}
			msg.Release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			info, _ := r.Info()
			if info.DataWaits.Sleeps == 0 {
				t.Fatalf("the consumer never slept: %+v", info.DataWaits)
			}
			// Now the other way: fill the ring, the producer sleeps until a release.
			p.TrySend([]byte{1})
			p.TrySend([]byte{2})
			go func() {
				time.Sleep(30 * time.Millisecond)
				_, ok, err := c.TryRecv(make([]byte, 16))
				if !ok && err == nil {
					err = errors.New("empty")
				}
				done <- err
			}()
			if ok, err := p.Send(ctx, []byte{3}); !ok {
				t.Fatalf("send: %v %v", ok, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			info, _ = r.Info()
			if info.SpaceWaits.Sleeps == 0 || info.DataWaits.Wakes == 0 || info.SpaceWaits.Wakes == 0 {
				t.Fatalf("waits: data %+v space %+v", info.DataWaits, info.SpaceWaits)
			}
		})
	}
}

func TestSleepingConsumerSeesDisconnectedWhenTheProducerCloses(t *testing.T) {
	for _, kind := range []Kind{SPSC, MPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			opts := SPSCOptions(4, 16)
			if kind == MPMC {
				opts = MPMCOptions(4, 32, 4)
			}
			r := testRing(t, opts)
			p, _ := r.JoinProducer()
			c := mustConsumer(t, r)
			c.SetWaitStrategy(SleepingWaitStrategy())
			p.TrySend([]byte("last"))
			go func() {
				time.Sleep(30 * time.Millisecond)
				p.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			var end error
			for msg, err := range c.All(ctx) {
				if err != nil {
					end = err
					break
				}
				got = append(got, string(msg))
			}
			if end != ErrDisconnected || len(got) != 1 || got[0] != "last" {
				t.Fatalf("messages %q, then %v", got, end)
			}
		})
	}
}

// Many round trips between two goroutines over two rings, both sides
// sleeping: each wake-up must come, or the test hangs until its deadline.
func TestPingPongWithSleepingStrategies(t *testing.T) {
	ping := testRing(t, SPSCOptions(4, 16))
	pong := testRing(t, MPMCOptions(4, 32, 4))
	pingP, pingC := mustProducer(t, ping), mustConsumer(t, ping)
	pongP, pongC := mustProducer(t, pong), mustConsumer(t, pong)
	for _, h := range []interface{ SetWaitStrategy(WaitStrategy) }{pingP, pingC, pongP, pongC} {
		h.SetWaitStrategy(SleepingWaitStrategy())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const rounds = 2000
	errs := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		for i := 0; i < rounds; i++ {
			n, ok, err := pingC.Recv(ctx, buf)
			if ok {
				ok, err = pongP.Send(ctx, buf[:n])
			}
			if !ok {
				errs <- fmt.Errorf("round %d: %v %w", i, ok, err)
				return
			}
		}
		errs <- nil
	}()
	buf := make([]byte, 16)
	for i := 0; i < rounds; i++ {
		if ok, err := pingP.Send(ctx, []byte{byte(i)}); !ok {
			t.Fatal(ok, err)
		}
		n, ok, err := pongC.Recv(ctx, buf)
		if !ok || n != 1 || buf[0] != byte(i) {
			t.Fatalf("round %d: %v %v %v", i, buf[:n], ok, err)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// A waker pays the fence only while a sleeper is registered on its line:
// it arms when it sees a registration and disarms when it sees it go.
func TestWakersAreArmedOnlyWhileASleeperIsRegistered(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 16))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	p.TrySend([]byte{1})
	c.TryRecv(make([]byte, 16))
	if p.waker.armed || c.waker.armed {
		t.Fatal("armed with nobody asleep")
	}
	c.SetWaitStrategy(SleepingWaitStrategy())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, ok, err := c.Recv(ctx, make([]byte, 16))
		if !ok && err == nil {
			err = errors.New("timed out")
		}
		got <- err
	}()
	for {
		info, _ := r.Info()
		if info.DataWaits.Sleepers == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mustSend(t, p, []byte{2})
	if !p.waker.armed {
		t.Fatal("the producer did not arm for a registered sleeper")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// The next read finds a message at once and deregisters; the producer's
	// next publish disarms it.
	p.TrySend([]byte{3})
	if _, ok, err := c.Recv(ctx, make([]byte, 16)); !ok {
		t.Fatal(ok, err)
	}
	p.TrySend([]byte{4})
	if p.waker.armed {
		t.Fatal("still armed after the sleeper left")
	}
	if ack := *r.u64At(r.geo.recordOffset(0) + recWakeAck); ack != p.waker.seenEpoch || ack == 0 {
		t.Fatalf("wake_ack %d, epoch seen %d", ack, p.waker.seenEpoch)
	}
}

// A consumer process sleeping on the futex is woken by this process's
// publishes (bursts with idle gaps), and costs next to no CPU while idle.
func TestSleepingConsumerProcessIsWokenAcrossProcessesAndIdlesCheaply(t *testing.T) {
	r := testRing(t, SPSCOptions(16, 16))
	cmd, out := startChildOutput(t, "consumer-reads-sleeping", r.Path())
	p, err := r.JoinProducer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const bursts, perBurst = 20, 500
	for b := 0; b < bursts; b++ {
		for i := 0; i < perBurst; i++ {
			if ok, err := p.Send(ctx, []byte("12345678")); !ok {
				t.Fatal(ok, err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the child idles asleep
	p.Close()
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var count, cpuMicros int
	if _, err := fmt.Sscanf(line, "count=%d cpu_us=%d", &count, &cpuMicros); err != nil {
		t.Fatalf("child said %q", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if count != bursts*perBurst {
		t.Fatalf("child read %d messages", count)
	}
	// Go's runtime itself takes a few milliseconds; a consumer that spun
	// through the idle half second would take hundreds.
	if cpuMicros > 150000 {
		t.Fatalf("child used %d us of CPU", cpuMicros)
	}
	info, _ := r.Info()
	if info.DataWaits.Sleeps == 0 || info.DataWaits.Wakes == 0 {
		t.Fatalf("nobody slept or woke: %+v", info.DataWaits)
	}
	t.Logf("child: %d messages, %d us of CPU; data line %+v", count, cpuMicros, info.DataWaits)
}

// A sleeper whose producer stays idle is never acknowledged (wakers
// acknowledge when they publish), so it naps 1, 2, 4, ... ms: the doubling
// must stop at the peer-check interval. Unbounded, it overflowed to a zero nap
// after 44 doublings and the wait became a busy loop of futex calls.
func TestUnacknowledgedSleeperNapsStayBounded(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 16))
	_, c := mustProducer(t, r), mustConsumer(t, r)
	strategy := SleepingWaitStrategy()
	strategy.PeerCheckInterval = time.Millisecond
	c.SetWaitStrategy(strategy)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, ok, err := c.Read(ctx); ok || err != nil {
		t.Fatalf("read on an idle ring: %v %v", ok, err)
	}
	info, err := r.Info()
	if err != nil {
		t.Fatal(err)
	}
	// At most one nap per millisecond of the wait (with room to spare); the
	// busy loop made hundreds of thousands.
	if info.DataWaits.Sleeps == 0 || info.DataWaits.Sleeps > 1000 {
		t.Fatalf("%d futex sleeps in a 300 ms wait", info.DataWaits.Sleeps)
	}
}
