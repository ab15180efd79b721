// Command sensor-workers reads a stream of 64-byte sensor frames from a
// shmlane ring, written by a Rust, C or Go producer, and fans them out to N
// worker goroutines through the zero-copy channel bridge (Consumer.Chan).
// Each worker keeps a few frames and releases them in random order, as a
// pool of workers finishing at different times does; once per interval it
// prints the frame rate and the latency percentiles, from the frame's send
// timestamp to a worker's receipt.
//
// The frame format is docs/go.md's "Sensor frames" (bindings-c/examples/sensor.h):
//
//	0   u64  sequence number (per stream, from 0)
//	8   u64  send time: CLOCK_MONOTONIC in nanoseconds
//	16  u32  sensor id
//	20  u32  flags, 0
//	24  5 x f64 values
//
// Run it beside a producer:
//
//	sensor-workers -create -workers 4 &
//	bindings-c/build/bin/sensor_producer --rate 200000 --count 1000000
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"shmlane.dev/shmlane"
)

// FrameSize is the size of a sensor frame.
const FrameSize = 64

// monotonicNs is CLOCK_MONOTONIC in nanoseconds, through the system call (Go's
// time package does not expose its value; it is one clock for every process
// of a boot).
func monotonicNs() uint64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

// histogram of latencies in ns: log2 buckets split into 16 linear
// sub-buckets (about 6% resolution), fixed size, no allocation per sample.
type histogram struct {
	counts [64 * 16]uint64
	total  uint64
	max    uint64
}

func (h *histogram) add(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.total++
	h.max = max(h.max, ns)
}

func (h *histogram) merge(other *histogram) {
	for b, c := range other.counts {
		h.counts[b] += c
	}
	h.total += other.total
	h.max = max(h.max, other.max)
}

func bucketOf(ns uint64) int {
	if ns < 16 {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // >= 4
	sub := (ns >> (exp - 4)) & 15
	return (exp-3)*16 + int(sub)
}

// upperOf is the largest value of a bucket.
func upperOf(b int) uint64 {
	if b < 16 {
		return uint64(b)
	}
	exp := b/16 + 3
	sub := uint64(b % 16)
	return (16+sub+1)<<(exp-4) - 1
}

func (h *histogram) percentile(p float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(upperOf(b), h.max)
		}
	}
	return h.max
}

// worker is one worker goroutine's state; the reporter takes its histogram
// under mu.
type worker struct {
	mu     sync.Mutex
	h      histogram
	frames atomic.Uint64
	maxSeq atomic.Uint64 // highest sequence number + 1 seen
}

func main() {
	name := flag.String("name", "shmlane-sensors", "ring name under /dev/shm")
	path := flag.String("path", "", "ring file path (instead of -name)")
	create := flag.Bool("create", false, "create the ring (SPSC, fixed 64-byte frames)")
	capacity := flag.Uint64("capacity", 4096, "slots of a ring made with -create")
	workers := flag.Int("workers", 4, "worker goroutines")
	depth := flag.Int("depth", 64, "frames the bridge holds at once (delivered and not released, or read ahead)")
	hold := flag.Int("hold", 2, "frames each worker keeps before it releases one at random")
	interval := flag.Duration("interval", time.Second, "report interval")
	wait := flag.String("wait", "default", "wait strategy of the bridge: default, spin or sleep")
	duration := flag.Duration("for", 0, "stop after this long (0: until interrupted or the producer leaves)")
	flag.Parse()
	if *workers < 1 || *hold < 1 {
		fail(errors.New("-workers and -hold must be at least 1"))
	}

	ringPath := *path
	if ringPath == "" {
		var err error
		if ringPath, err = shmlane.PathFor(*name); err != nil {
			fail(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var ring *shmlane.Ring
	var err error
	if *create {
		ring, err = shmlane.CreateAt(ringPath, shmlane.SPSCFixedOptions(*capacity, FrameSize))
	} else {
		ring, err = shmlane.OpenAt(ringPath, shmlane.ReadyTimeout(10*time.Second))
	}
	if err != nil {
		fail(err)
	}
	defer ring.Close()
	if ring.MaxPayload() != FrameSize {
		fail(fmt.Errorf("the ring carries messages of up to %d bytes, not %d-byte frames", ring.MaxPayload(), FrameSize))
	}
	strategy := shmlane.DefaultWaitStrategy()
	switch *wait {
	case "spin":
		strategy = shmlane.SpinningWaitStrategy()
	case "sleep":
		strategy = shmlane.SleepingWaitStrategy()
	}
	if err := run(ctx, ring, strategy, *workers, *depth, *hold, *interval); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sensor-workers:", err)
	os.Exit(1)
}

func run(ctx context.Context, ring *shmlane.Ring, strategy shmlane.WaitStrategy, workerCount, depth, hold int, interval time.Duration) error {
	c, err := ring.JoinConsumer()
	if err != nil {
		return err
	}
	defer c.Close() // after bridge.Wait below: until then the consumer is the bridge's
	c.SetWaitStrategy(strategy)
	fmt.Printf("reading %d-byte frames from %s into %d workers (latency: CLOCK_MONOTONIC send time to a worker's receipt)\n",
		FrameSize, ring.Path(), workerCount)

	bridge := c.Chan(ctx, depth)
	states := make([]*worker, workerCount)
	var group sync.WaitGroup
	for i := range states {
		states[i] = &worker{}
		group.Add(1)
		go func(w *worker, seed uint64) {
			defer group.Done()
			work(bridge, w, hold, rand.New(rand.NewPCG(seed, 18)))
		}(states[i], uint64(i))
	}

	workersDone := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		last := time.Now()
		for {
			select {
			case now := <-ticker.C:
				report(states, now.Sub(last))
				last = now
			case <-workersDone:
				report(states, time.Since(last))
				return
			}
		}
	}()

	group.Wait() // the bridge's channel is closed and every frame released
	close(workersDone)
	err = bridge.Wait()
	<-reported
	var frames, seen uint64
	for _, w := range states {
		frames += w.frames.Load()
		seen = max(seen, w.maxSeq.Load())
	}
	fmt.Printf("%d frames in all, %d missing from the sequence numbers\n", frames, seen-min(seen, frames))
	if errors.Is(err, shmlane.ErrDisconnected) {
		fmt.Println("the producer left")
		return nil
	}
	return err
}

// work takes frames from the bridge, keeps up to hold of them and releases
// them in random order; it gives back what it keeps whenever no frame is
// waiting (a consumer that waits for more while it holds frames can stall
// the bridge: see docs/go.md, "Channel bridge").
func work(bridge *shmlane.Bridge, w *worker, hold int, rng *rand.Rand) {
	held := make([]shmlane.BorrowedMessage, 0, hold)
	releaseOne := func() {
		i := rng.IntN(len(held))
		held[i].Release()
		held[i] = held[len(held)-1]
		held = held[:len(held)-1]
	}
	for {
		var frame shmlane.BorrowedMessage
		var ok bool
		if len(held) == 0 {
			frame, ok = <-bridge.C
		} else {
			select {
			case frame, ok = <-bridge.C:
			default:
				releaseOne()
				continue
			}
		}
		if !ok {
			for len(held) > 0 {
				releaseOne()
			}
			return
		}
		// Zero-copy: the frame is read in place in shared memory, valid
		// until its Release.
		b := frame.Bytes()
		if len(b) != FrameSize {
			frame.Release()
			continue
		}
		now := monotonicNs()
		seq := binary.LittleEndian.Uint64(b[0:])
		sent := binary.LittleEndian.Uint64(b[8:])
		w.mu.Lock()
		if now >= sent {
			w.h.add(now - sent)
		}
		w.mu.Unlock()
		w.frames.Add(1)
		for {
			seen := w.maxSeq.Load()
			if seq+1 <= seen || w.maxSeq.CompareAndSwap(seen, seq+1) {
				break
			}
		}
		held = append(held, frame)
		if len(held) >= hold {
			releaseOne()
		}
	}
}

// report prints the latencies of every worker since the last report.
func report(states []*worker, elapsed time.Duration) {
	var h histogram
	for _, w := range states {
		w.mu.Lock()
		h.merge(&w.h)
		w.h = histogram{}
		w.mu.Unlock()
	}
	fmt.Printf("frames=%d rate=%.0f/s latency us: p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f\n",
		h.total, float64(h.total)/elapsed.Seconds(), us(h.percentile(50)), us(h.percentile(90)),
		us(h.percentile(99)), us(h.percentile(99.9)), us(h.max))
}

func us(ns uint64) float64 { return float64(ns) / 1e3 }
