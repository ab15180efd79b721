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
			cases := map[string]func(){
				"TryReserve/Commit+TryRead/Release": func() {
					s, err := p.TryReserve()
					if err != nil {
						t.Fatal(err)
					}
					copy(s.Bytes(), msg)
					s.Commit(size)
					m, err := c.TryRead()
					if err != nil || m.Len() != size {
						t.Fatal(err)
					}
					m.Release()
				},
				"TrySend/TryRecv": func() {
					if err := p.TrySend(msg); err != nil {
						t.Fatal(err)
					}
					if _, err := c.TryRecv(buf); err != nil {
						t.Fatal(err)
					}
				},
				"batches": func() {
					b, err := p.TryReserveBatch(16)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < b.Len(); i++ {
						b.Write(i, msg)
					}
					b.Commit()
					rb, err := c.TryReadBatch(16)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < rb.Len(); i++ {
						_ = rb.Message(i)
					}
					rb.Release()
				},
				"Reserve/Read with data available": func() {
					s, err := p.Reserve(ctx)
					if err != nil {
						t.Fatal(err)
					}
					s.Commit(size)
					m, err := c.Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					m.Release()
				},
				"Send/Recv and batch forms with data available": func() {
					if err := p.Send(ctx, msg); err != nil {
						t.Fatal(err)
					}
					if _, err := c.Recv(ctx, buf); err != nil {
						t.Fatal(err)
					}
					b, _ := p.ReserveBatch(ctx, 4)
					b.Commit()
					rb, _ := c.ReadBatch(ctx, 4)
					rb.Release()
				},
				"full and empty": func() {
					if _, err := c.TryRead(); err != ErrEmpty {
						t.Fatal(err)
					}
				},
			}
			for what, f := range cases {
				if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
					t.Errorf("%s: %v allocations per message", what, allocs)
				}
			}
			// Messages: one iterator per loop, nothing per message.
			allocs := testing.AllocsPerRun(1, func() {
				for i := 0; i < 10; i++ {
					p.TrySend(msg)
				}
				n := 0
				for _, err := range c.Messages(ctx) {
					if err != nil {
						t.Fatal(err)
					}
					if n++; n == 10 {
						break
					}
				}
			})
			if allocs > 2 {
				t.Errorf("Messages over 10 messages: %v allocations", allocs)
			}
		})
	}
}
