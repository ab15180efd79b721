package shmlane

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"
)

// mapAgain maps the ring's file a second time, as a hostile peer would.
func mapAgain(t *testing.T, r *Ring) []byte {
	t.Helper()
	f, err := os.OpenFile(r.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := syscall.Mmap(int(f.Fd()), 0, int(r.Geometry().TotalSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(data) })
	return data
}

// exercise runs every operation of both handles a few times, accepting any
// error: the point is that none panics, reads outside the mapping or hangs.
func exercise(t *testing.T, p *Producer, c *Consumer, rng *rand.Rand) {
	buf := make([]byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
	defer cancel()
	for i := 0; i < 8; i++ {
		switch rng.IntN(10) {
		case 0:
			if s, ok, _ := p.TryReserve(); ok {
				s.Bytes()[0] = 1
				s.Commit(rng.IntN(p.MaxPayload() + 1))
			}
		case 1:
			if b, ok, _ := p.TryReserveBatch(rng.IntN(20)); ok {
				for j := 0; j < b.Len(); j++ {
					b.SetLen(j, rng.IntN(p.MaxPayload()+1))
					_ = b.Slot(j)
				}
				b.CommitFirst(rng.IntN(b.Len() + 1))
			}
		case 2:
			if s, ok, _ := c.TryRead(); ok {
				if len(s.Bytes()) > c.MaxPayload() {
					t.Fatalf("message of %d bytes read past the maximum", len(s.Bytes()))
				}
				s.Release()
			}
		case 3:
			if b, ok, _ := c.TryReadBatch(rng.IntN(20)); ok {
				for j := 0; j < b.Len(); j++ {
					if len(b.Message(j)) > c.MaxPayload() {
						t.Fatal("batch message past the maximum")
					}
				}
				b.Slices()
				b.Release()
			}
		case 4:
			c.TryRecv(buf)
		case 5:
			p.TrySend(buf[:rng.IntN(9)])
		case 6:
			if s, ok, _ := c.Read(ctx); ok {
				s.Release()
			}
		case 7:
			p.Send(ctx, buf[:1])
		case 8:
			p.IsDisconnected()
			c.IsDisconnected()
		case 9:
			if s, ok, _ := p.Reserve(ctx); ok {
				s.Abort()
			}
		}
	}
}

func TestCorruptedLiveMappingNeverPanics(t *testing.T) {
	for _, opts := range []Options{SPSCOptions(8, 32), SPSCFixedOptions(8, 8), MPMCOptions(8, 32, 4), MPMCFixedOptions(8, 8, 4)} {
		name := opts.Kind.String()
		rounds := 300
		if opts.FixedSize {
			name += "-fixed"
		}
		t.Run(name, func(t *testing.T) {
			r := testRing(t, opts)
			p, c := mustProducer(t, r), mustConsumer(t, r)
			p.SetWaitStrategy(SpinningWaitStrategy())
			c.SetWaitStrategy(SleepingWaitStrategy())
			hostile := mapAgain(t, r)
			g := r.Geometry()
			rng := rand.New(rand.NewPCG(1, uint64(opts.Kind)))
			sawCorrupt := false
			for round := 0; round < rounds; round++ {
				// Scribble on the words a peer could break: positions, slot
				// bytes (lengths, stamps), the wait lines, the header.
				for k := 0; k < 3; k++ {
					var offset uint64
					switch rng.IntN(5) {
					case 0:
						offset = tailOffset
					case 1:
						offset = headOffset
					case 2:
						offset = g.SlotsOffset + rng.Uint64N(g.Capacity)*g.SlotSize
					case 3:
						offset = g.SlotsOffset + rng.Uint64N(g.TotalSize-g.SlotsOffset-8)&^7
					case 4:
						offset = rng.Uint64N(HeaderSize-8) &^ 7
					}
					var value uint64
					switch rng.IntN(4) {
					case 0:
						value = rng.Uint64()
					case 1:
						value = rng.Uint64N(64)
					case 2:
						value = binary.LittleEndian.Uint64(hostile[offset:]) + rng.Uint64N(3) - 1
					case 3:
						value = 1 << 63
					}
					binary.LittleEndian.PutUint64(hostile[offset:], value)
				}
				exercise(t, p, c, rng)
				if _, _, err := c.TryRead(); errors.Is(err, ErrCorrupt) {
					sawCorrupt = true
				}
			}
			if !sawCorrupt {
				t.Fatal("no corruption was ever reported")
			}
		})
	}
}

func TestCorruptHeaderIsRefusedAtOpen(t *testing.T) {
	r := testRing(t, SPSCOptions(8, 32))
	hostile := mapAgain(t, r)
	binary.LittleEndian.PutUint64(hostile[hdrTotalSize:], 1<<20)
	if _, err := OpenAt(r.Path()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changed total size: %v", err)
	}
	if _, err := InfoAt(r.Path()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("info of a changed header: %v", err)
	}
}

// A stamp ahead of its position, which no handle writes by protocol, is
// ErrCorrupt at once for producers and consumers, not a lost race retried
// MaxAttempts times.
func TestMPMCStampAheadOfItsPositionIsCorruptAtOnce(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 2))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	hostile := mapAgain(t, r)
	g := r.Geometry()
	stamp := hostile[g.SlotsOffset : g.SlotsOffset+8]
	binary.LittleEndian.PutUint64(stamp, 5) // free for position 5; tail is 0
	if _, ok, err := p.TryReserve(); ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("TryReserve: got %v %v, want ErrCorrupt", ok, err)
	}
	binary.LittleEndian.PutUint64(stamp, 8) // message of position 7; head is 0
	if _, ok, err := c.TryRead(); ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("TryRead: got %v %v, want ErrCorrupt", ok, err)
	}
}
