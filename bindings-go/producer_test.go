package shmlane

import (
	"context"
	"testing"
	"time"
)

// SendFrom moves every message of a channel into the ring, in order, and
// returns once the channel is closed.
func TestSendFromSendsEveryMessageOfTheChannelInOrder(t *testing.T) {
	for _, opts := range bridgeKinds {
		t.Run(kindName(opts), func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
			defer cancel()
			const messages = 2000
			in := make(chan []byte, 4)
			type result struct {
				unsent []byte
				err    error
			}
			sent := make(chan result, 1)
			go func() {
				unsent, err := p.SendFrom(ctx, in)
				sent <- result{unsent, err}
			}()
			go func() {
				for seq := uint64(0); seq < messages; seq++ {
					// A buffer per message: SendFrom may still hold the last.
					in <- sequenced(make([]byte, p.MaxPayload()), seq, opts.FixedSize)
				}
				close(in)
			}()
			buf := make([]byte, c.MaxPayload())
			for want := uint64(0); want < messages; want++ {
				n, ok, err := c.Recv(ctx, buf)
				if !ok {
					t.Fatalf("message %d: %v %v", want, ok, err)
				}
				if seq, ok := sequenceOf(buf[:n], opts.FixedSize, c.MaxPayload()); !ok || seq != want {
					t.Fatalf("message %d (%v), want %d", seq, ok, want)
				}
			}
			if res := <-sent; res.unsent != nil || res.err != nil {
				t.Fatalf("SendFrom: %v, %v", res.unsent, res.err)
			}
		})
	}
}

// On a full ring SendFrom takes one message more from the channel and waits
// with it; when its context ends it hands that message back unsent.
func TestSendFromOnAFullRingHandsBackTheMessageItHolds(t *testing.T) {
	r := testRing(t, SPSCOptions(16, 64))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan []byte) // unbuffered: a send completes when SendFrom takes it
	unsent := make(chan []byte, 1)
	go func() {
		message, err := p.SendFrom(ctx, in)
		if err != nil {
			t.Error(err)
		}
		unsent <- message
	}()
	for i := 0; i < 17; i++ {
		in <- []byte{byte(i)}
	}
	// The 17th was taken once the 16 before it were in the ring.
	cancel()
	if message := <-unsent; len(message) != 1 || message[0] != 16 {
		t.Fatalf("unsent %v, want [16]", message)
	}
	for i := 0; i < 16; i++ {
		msg, ok, err := c.TryRead()
		if !ok || msg.Bytes()[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, ok, err)
		}
	}
	expectEmpty(t, c)
}
