// Command sensor-consumer reads a stream of fixed-size sensor frames zero-copy
// from a shmlane ring written by a Rust, C or Go producer, and prints the
// frame rate and the latency percentiles (from the frame's send timestamp to
// its read) once per interval.
//
// The frame format is docs/go.md's "Sensor frames": 64 bytes, little-endian,
//
//	0   u64  sequence number (per stream, from 0)
//	8   u64  send time: CLOCK_MONOTONIC in nanoseconds
//	16  u32  sensor id
//	20  u32  flags, 0
//	24  5 x f64 values
//
// in an SPSC (or MPMC) ring of fixed-size 64-byte messages.
//
// CLOCK_MONOTONIC is one clock for every process of a boot, so a latency
// across processes is a plain difference. Go's time package does not expose its
// value, so it is read with the clock_gettime system call.
//
//	sensor-consumer                     # read, report every second
//	sensor-consumer -create             # create the ring first
//	sensor-consumer -produce -rate 100000   # a Go demo producer
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"shmlane.dev/shmlane"
)

// FrameSize is the size of a sensor frame.
const FrameSize = 64

const values = 5

// monotonicNs is CLOCK_MONOTONIC in nanoseconds, through the system call.
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

func main() {
	name := flag.String("name", "shmlane-sensors", "ring name under /dev/shm")
	path := flag.String("path", "", "ring file path (instead of -name)")
	create := flag.Bool("create", false, "create the ring (SPSC, fixed 64-byte frames)")
	capacity := flag.Uint64("capacity", 4096, "slots of a ring made with -create")
	interval := flag.Duration("interval", time.Second, "report interval")
	wait := flag.String("wait", "default", "wait strategy: default, spin or sleep")
	duration := flag.Duration("for", 0, "stop after this long (0: until interrupted or the producer leaves)")
	produce := flag.Bool("produce", false, "be a demo producer instead of the consumer")
	rate := flag.Float64("rate", 100000, "demo producer: frames per second (0: as fast as possible)")
	count := flag.Uint64("count", 0, "demo producer: frames to send (0: until interrupted)")
	flag.Parse()

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
	if *produce {
		err = runProducer(ctx, ring, strategy, *rate, *count)
	} else {
		err = runConsumer(ctx, ring, strategy, *interval)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sensor-consumer:", err)
	os.Exit(1)
}

func runConsumer(ctx context.Context, ring *shmlane.Ring, strategy shmlane.WaitStrategy, interval time.Duration) error {
	c, err := ring.JoinConsumer()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetWaitStrategy(strategy)
	fmt.Printf("reading %d-byte frames from %s (latency: CLOCK_MONOTONIC send time to read)\n", FrameSize, ring.Path())
	var h histogram
	var frames, gaps, nextSeq uint64
	var sum float64
	lastReport := time.Now()
	report := func(now time.Time) {
		seconds := now.Sub(lastReport).Seconds()
		fmt.Printf("frames=%d rate=%.0f/s latency us: p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f gaps=%d\n",
			h.total, float64(h.total)/seconds, us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)),
			us(h.percentile(99.9)), us(h.max), gaps)
		h = histogram{}
		gaps = 0
		lastReport = now
	}
	// The deadline of each read is the next report, so an idle stream still reports.
	for {
		readCtx, cancel := context.WithDeadline(ctx, lastReport.Add(interval))
		for {
			frame, ok, err := c.Read(readCtx)
			if errors.Is(err, shmlane.ErrDisconnected) {
				cancel()
				report(time.Now())
				fmt.Printf("the producer left after %d frames (checksum of values %.6g)\n", frames, sum)
				return nil
			}
			if err != nil {
				cancel()
				return err
			}
			if !ok {
				// The read's deadline (time to report), or the end of the run.
				cancel()
				if ctx.Err() != nil {
					report(time.Now())
					return nil
				}
				break
			}
			// Zero-copy: the frame is read in place in shared memory; the
			// slice is valid until Release.
			b := frame.Bytes()
			seq := binary.LittleEndian.Uint64(b[0:])
			sent := binary.LittleEndian.Uint64(b[8:])
			sum += math.Float64frombits(binary.LittleEndian.Uint64(b[24:]))
			frame.Release()
			if now := monotonicNs(); now >= sent {
				h.add(now - sent)
			}
			if seq != nextSeq {
				gaps++
			}
			nextSeq = seq + 1
			frames++
			if frames%1024 == 0 && time.Since(lastReport) >= interval {
				cancel()
				break
			}
		}
		report(time.Now())
	}
}

func us(ns uint64) float64 { return float64(ns) / 1e3 }

// runProducer writes frames at rate per second (a demo stand-in for the Rust
// and C producers).
func runProducer(ctx context.Context, ring *shmlane.Ring, strategy shmlane.WaitStrategy, rate float64, count uint64) error {
	p, err := ring.JoinProducer()
	if err != nil {
		return err
	}
	defer p.Close()
	p.SetWaitStrategy(strategy)
	start := time.Now()
	for seq := uint64(0); count == 0 || seq < count; seq++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(seq) / rate * 1e9))
			for time.Now().Before(due) {
				if ctx.Err() != nil {
					return nil
				}
				if d := time.Until(due); d > 200*time.Microsecond {
					time.Sleep(d - 100*time.Microsecond)
				}
			}
		}
		slot, ok, err := p.Reserve(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil // the end of the run
		}
		b := slot.Bytes()
		binary.LittleEndian.PutUint64(b[0:], seq)
		binary.LittleEndian.PutUint32(b[16:], 7)
		binary.LittleEndian.PutUint32(b[20:], 0)
		for i := 0; i < values; i++ {
			binary.LittleEndian.PutUint64(b[24+8*i:], math.Float64bits(float64(seq)+float64(i)/10))
		}
		binary.LittleEndian.PutUint64(b[8:], monotonicNs())
		if err := slot.Commit(FrameSize); err != nil {
			return err
		}
	}
	return nil
}
