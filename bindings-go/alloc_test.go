package shmlane

import (
	"context"
	"testing"
	"time"
)

// Every hot-path form moves a message without allocating.
func TestHotPathAllocatesNothing(t *testing.T) {
	for _, opts := range []Options{SPSCOptions(64, 64), SPSCFixedOptions(64, 8), MPMCOptions(64, 64, 4), MPMCFixedOptions(64, 8, 4)} {
		name := opts.Kind.String()
		if opts.FixedSize {
			name += "-fixed"
		}
		t.Run(name, func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			size := int(opts.MaxPayload())
			if !opts.FixedSize {
				size = 8
			}
			msg := make([]byte, size)
			buf := make([]byte, 64)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ended, end := context.WithCancel(context.Background())
			end()
			cases := map[string]func(){
				"TryReserve/Commit+TryRead/Release": func() {
					s, ok, err := p.TryReserve()
					if !ok {
						t.Fatal(ok, err)
					}
					copy(s.Bytes(), msg)
					s.Commit(size)
					m, ok, err := c.TryRead()
					if !ok || m.Len() != size {
						t.Fatal(ok, err)
					}
					m.Release()
				},
				"TrySend/TryRecv": func() {
					if ok, err := p.TrySend(msg); !ok {
						t.Fatal(ok, err)
					}
					if _, ok, err := c.TryRecv(buf); !ok {
						t.Fatal(ok, err)
					}
				},
				"batches": func() {
					b, ok, err := p.TryReserveBatch(16)
					if !ok {
						t.Fatal(ok, err)
					}
					for i := 0; i < b.Len(); i++ {
						b.Write(i, msg)
					}
					b.Commit()
					rb, ok, err := c.TryReadBatch(16)
					if !ok {
						t.Fatal(ok, err)
					}
					for i := 0; i < rb.Len(); i++ {
						_ = rb.Message(i)
					}
					rb.Release()
				},
				"Reserve/Read with data available": func() {
					s, ok, err := p.Reserve(ctx)
					if !ok {
						t.Fatal(ok, err)
					}
					s.Commit(size)
					m, ok, err := c.Read(ctx)
					if !ok {
						t.Fatal(ok, err)
					}
					m.Release()
				},
				"Send/Recv and batch forms with data available": func() {
					if ok, err := p.Send(ctx, msg); !ok {
						t.Fatal(ok, err)
					}
					if _, ok, err := c.Recv(ctx, buf); !ok {
						t.Fatal(ok, err)
					}
					b, _, _ := p.ReserveBatch(ctx, 4)
					b.Commit()
					rb, _, _ := c.ReadBatch(ctx, 4)
					rb.Release()
				},
				"empty": func() {
					if _, ok, err := c.TryRead(); ok || err != nil {
						t.Fatal(ok, err)
					}
				},
				"blocking call whose context has ended": func() {
					if _, ok, err := c.Read(ended); ok || err != nil {
						t.Fatal(ok, err)
					}
				},
			}
			for what, f := range cases {
				if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
					t.Errorf("%s: %v allocations per message", what, allocs)
				}
			}
			// All: one iterator per loop, nothing per message.
			allocs := testing.AllocsPerRun(1, func() {
				for i := 0; i < 10; i++ {
					p.TrySend(msg)
				}
				n := 0
				for _, err := range c.All(ctx) {
					if err != nil {
						t.Fatal(err)
					}
					if n++; n == 10 {
						break
					}
				}
			})
			if allocs > 2 {
				t.Errorf("All over 10 messages: %v allocations", allocs)
			}
		})
	}
}
