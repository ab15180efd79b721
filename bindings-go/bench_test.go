package shmlane

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// backOff is what a benchmark loop does when the ring is full or empty: a
// spin hint, and now and then a yield, should both goroutines share a thread.
func backOff(idle *int) {
	Pause()
	if *idle++; *idle%1024 == 0 {
		runtime.Gosched()
	}
}

// benchSPSC moves b.N messages one at a time (TryReserve/Commit,
// TryRead/Release) from a producer goroutine to the benchmark's goroutine.
func benchSPSC(b *testing.B, opts Options, size int) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two threads")
	}
	r := testRing(b, opts)
	p, c := mustProducer(b, r), mustConsumer(b, r)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		idle := 0
		for i := 0; i < b.N; {
			s, ok, _ := p.TryReserve()
			if !ok {
				backOff(&idle)
				continue
			}
			binary.LittleEndian.PutUint64(s.Bytes(), uint64(i))
			s.Commit(size)
			i++
		}
	}()
	idle := 0
	for i := 0; i < b.N; {
		m, ok, _ := c.TryRead()
		if !ok {
			backOff(&idle)
			continue
		}
		if binary.LittleEndian.Uint64(m.Bytes()) != uint64(i) {
			b.Fatal("out of order")
		}
		m.Release()
		i++
	}
	<-done
}

func BenchmarkSPSCOneAtATimeFixed8(b *testing.B) { benchSPSC(b, SPSCFixedOptions(4096, 8), 8) }
func BenchmarkSPSCOneAtATime64(b *testing.B)     { benchSPSC(b, SPSCOptions(4096, 72), 64) }

// BenchmarkSPSCBatchFixed8 moves messages in batches of up to 256.
func BenchmarkSPSCBatchFixed8(b *testing.B) {
	r := testRing(b, SPSCFixedOptions(4096, 8))
	p, c := mustProducer(b, r), mustConsumer(b, r)
	b.SetBytes(8)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		idle := 0
		for i := 0; i < b.N; {
			batch, ok, _ := p.TryReserveBatch(min(256, b.N-i))
			if !ok {
				backOff(&idle)
				continue
			}
			first, second, _ := batch.Slices()
			for j := 0; j+8 <= len(first); j += 8 {
				binary.LittleEndian.PutUint64(first[j:], uint64(i))
				i++
			}
			for j := 0; j+8 <= len(second); j += 8 {
				binary.LittleEndian.PutUint64(second[j:], uint64(i))
				i++
			}
			batch.Commit()
		}
	}()
	idle := 0
	for i := 0; i < b.N; {
		batch, ok, _ := c.TryReadBatch(256)
		if !ok {
			backOff(&idle)
			continue
		}
		i += batch.Len()
		batch.Release()
	}
}

// BenchmarkMPMCOneAtATime: one producer goroutine, one consumer, MPMC ring.
func BenchmarkMPMCOneAtATime(b *testing.B) {
	r := testRing(b, MPMCFixedOptions(4096, 8, 4))
	p, c := mustProducer(b, r), mustConsumer(b, r)
	b.SetBytes(8)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		idle := 0
		for i := 0; i < b.N; {
			s, ok, _ := p.TryReserve()
			if !ok {
				backOff(&idle)
				continue
			}
			s.Commit(8)
			i++
		}
	}()
	idle := 0
	for i := 0; i < b.N; {
		m, ok, _ := c.TryRead()
		if !ok {
			backOff(&idle)
			continue
		}
		m.Release()
		i++
	}
}

// BenchmarkSPSCSameGoroutine: reserve, commit, read and release in one
// goroutine: the per-message cost of the calls themselves, no cache misses.
func BenchmarkSPSCSameGoroutine(b *testing.B) {
	r := testRing(b, SPSCFixedOptions(1024, 8))
	p, c := mustProducer(b, r), mustConsumer(b, r)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, _, _ := p.TryReserve()
		binary.LittleEndian.PutUint64(s.Bytes(), uint64(i))
		s.Commit(8)
		m, _, _ := c.TryRead()
		if binary.LittleEndian.Uint64(m.Bytes()) != uint64(i) {
			b.Fatal("wrong message")
		}
		m.Release()
	}
}

// BenchmarkMPMCSameGoroutine: TrySend and TryRecv in one goroutine on an MPMC
// ring: the per-message cost of the claims (with their announcements) alone.
func BenchmarkMPMCSameGoroutine(b *testing.B) {
	r := testRing(b, MPMCFixedOptions(1024, 8, 4))
	p, c := mustProducer(b, r), mustConsumer(b, r)
	msg, buf := make([]byte, 8), make([]byte, 8)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(msg, uint64(i))
		if ok, err := p.TrySend(msg); !ok {
			b.Fatal(ok, err)
		}
		if _, ok, err := c.TryRecv(buf); !ok || binary.LittleEndian.Uint64(buf) != uint64(i) {
			b.Fatal("wrong message", ok, err)
		}
	}
}

// benchBridge moves b.N 8-byte messages from a producer goroutine through a
// bridge of depth 64 to workers goroutines, each releasing what it receives
// at once (Chan), or through the copying bridge, recycling each slice
// (ChanCopy). The producer's wait strategy spins, as benchSPSC's loop does.
func benchBridge(b *testing.B, opts Options, workers int, copying bool) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two threads")
	}
	r := testRing(b, opts)
	p, c := mustProducer(b, r), mustConsumer(b, r)
	c.SetWaitStrategy(SpinningWaitStrategy())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetBytes(8)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		idle := 0
		message := make([]byte, 8)
		for i := 0; i < b.N; {
			if ok, _ := p.TrySend(message); !ok {
				backOff(&idle)
				continue
			}
			i++
		}
	}()
	var received atomic.Int64
	var group sync.WaitGroup
	var zeroCopy *Bridge
	var copies *CopyBridge
	if copying {
		copies = c.ChanCopy(ctx, 64)
	} else {
		zeroCopy = c.Chan(ctx, 64)
	}
	for w := 0; w < workers; w++ {
		group.Add(1)
		go func() {
			defer group.Done()
			if copying {
				for message := range copies.C {
					copies.Recycle(message)
					if received.Add(1) == int64(b.N) {
						cancel()
					}
				}
				return
			}
			for m := range zeroCopy.C {
				m.Release()
				if received.Add(1) == int64(b.N) {
					cancel()
				}
			}
		}()
	}
	group.Wait()
	b.StopTimer()
	if copying {
		copies.Wait()
	} else {
		zeroCopy.Wait()
	}
}

func BenchmarkBridgeSPSCFixed8OneWorker(b *testing.B) {
	benchBridge(b, SPSCFixedOptions(4096, 8), 1, false)
}
func BenchmarkBridgeSPSCFixed8FourWorkers(b *testing.B) {
	benchBridge(b, SPSCFixedOptions(4096, 8), 4, false)
}
func BenchmarkBridgeMPMCFixed8FourWorkers(b *testing.B) {
	benchBridge(b, MPMCFixedOptions(4096, 8, 4), 4, false)
}
func BenchmarkCopyBridgeSPSCFixed8FourWorkers(b *testing.B) {
	benchBridge(b, SPSCFixedOptions(4096, 8), 4, true)
}
