package shmlane

import (
	"context"
	"errors"
	"testing"
	"time"
)

// ReadFunc hands every message to its callback, releasing each after the
// call, and returns what ended it: the callback's error, ErrDisconnected, or
// nil for the context.
func TestReadFuncReleasesEachMessageAndReturnsWhatEndedIt(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			buf := make([]byte, p.MaxPayload())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			errStop := errors.New("stop")
			next := uint64(0)
			read := func(message []byte) error {
				seq, ok := sequenceOf(message, opts.FixedSize, c.MaxPayload())
				if !ok || seq != next {
					t.Fatalf("message %d (%v), want %d", seq, ok, next)
				}
				next++
				if next%10 == 0 {
					return errStop
				}
				return nil
			}
			// Three times the ring's capacity: each call releases what it
			// read, or the producer would find the ring full.
			for round := uint64(0); round < 3; round++ {
				for seq := next; seq < next+10; seq++ {
					mustSend(t, p, sequenced(buf, seq, opts.FixedSize))
				}
				if err := c.ReadFunc(ctx, read); !errors.Is(err, errStop) {
					t.Fatalf("ReadFunc: %v, want the callback's error", err)
				}
			}
			ended, end := context.WithCancel(ctx)
			end()
			if err := c.ReadFunc(ended, read); err != nil {
				t.Fatalf("ReadFunc with its context done: %v", err)
			}
			mustSend(t, p, sequenced(buf, next, opts.FixedSize))
			p.Close()
			if err := c.ReadFunc(ctx, read); !errors.Is(err, ErrDisconnected) {
				t.Fatalf("ReadFunc after the producer left: %v", err)
			}
			if next != 31 {
				t.Fatalf("read %d messages, want 31", next)
			}
		})
	}
}

func TestReadFuncAllocatesNothingPerMessage(t *testing.T) {
	r := testRing(t, SPSCOptions(64, 64))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	msg := make([]byte, 8)
	errStop := errors.New("stop")
	stop := func([]byte) error { return errStop }
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		p.TrySend(msg)
		if err := c.ReadFunc(ctx, stop); err != errStop {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
}
