package main

// bridge-latency: what the channel bridge adds to a message's latency at a
// paced rate, in one process: a producer goroutine stamps each message with
// the time since the run's start and publishes it at the rate; the consumer
// reads it either with Read on one goroutine ("read") or through
// Consumer.Chan to worker goroutines that release at once ("bridge"), and
// records now minus the stamp. The two are run alternately, rounds times.

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"slices"
	"sync"
	"time"

	"shmlane.dev/shmlane"
)

func bridgeLatency(words []string) {
	fs := flag.NewFlagSet("bridge-latency", flag.ExitOnError)
	rate := fs.Float64("rate", 100_000, "messages per second, paced")
	seconds := fs.Float64("seconds", 1, "length of each run")
	workers := fs.Int("workers", 4, "worker goroutines of the bridge")
	rounds := fs.Int("rounds", 3, "runs of each mode, alternately")
	wait := fs.String("wait", "default", "the consumer's wait strategy: default, spin or sleep")
	fs.Parse(words)
	strategy := shmlane.DefaultWaitStrategy()
	switch *wait {
	case "spin":
		strategy = shmlane.SpinningWaitStrategy()
	case "sleep":
		strategy = shmlane.SleepingWaitStrategy()
	}
	count := uint64(*rate * *seconds)
	for round := 0; round < *rounds; round++ {
		for _, bridged := range []bool{false, true} {
			samples, err := latencyRun(count, *rate, strategy, bridged, *workers)
			if err != nil {
				fail(err)
			}
			mode := "read"
			if bridged {
				mode = fmt.Sprintf("bridge-%d-workers", *workers)
			}
			fmt.Printf("round=%d mode=%s rate=%.0f wait=%s messages=%d latency_us p50=%.2f p99=%.2f p99.9=%.2f max=%.2f\n",
				round, mode, *rate, *wait, len(samples), quantile(samples, 0.5), quantile(samples, 0.99),
				quantile(samples, 0.999), quantile(samples, 1))
		}
	}
}

// quantile of sorted samples (ns), in µs.
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	index := min(len(sorted)-1, int(q*float64(len(sorted))))
	return float64(sorted[index].Nanoseconds()) / 1e3
}

func latencyRun(count uint64, rate float64, strategy shmlane.WaitStrategy, bridged bool, workers int) ([]time.Duration, error) {
	name := fmt.Sprintf("shmlane-bench-latency-%d", time.Now().UnixNano())
	ring, err := shmlane.Create(name, shmlane.SPSCFixedOptions(4096, 8))
	if err != nil {
		return nil, err
	}
	defer shmlane.Remove(name)
	defer ring.Close()
	p, err := ring.JoinProducer()
	if err != nil {
		return nil, err
	}
	c, err := ring.JoinConsumer()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetWaitStrategy(strategy)
	start := time.Now()
	go func() {
		defer p.Close()
		message := make([]byte, 8)
		for seq := uint64(0); seq < count; seq++ {
			due := time.Duration(float64(seq) / rate * 1e9)
			for {
				ahead := due - time.Since(start)
				if ahead <= 0 {
					break
				}
				if ahead > 200*time.Microsecond {
					time.Sleep(ahead - 100*time.Microsecond)
				}
			}
			binary.LittleEndian.PutUint64(message, uint64(time.Since(start)))
			if ok, _ := p.Send(context.Background(), message); !ok {
				return
			}
		}
	}()
	samples := make([]time.Duration, 0, count)
	ctx := context.Background()
	if !bridged {
		err := c.ReadFunc(ctx, func(message []byte) error {
			samples = append(samples, time.Since(start)-time.Duration(binary.LittleEndian.Uint64(message)))
			return nil
		})
		slices.Sort(samples)
		if err != shmlane.ErrDisconnected {
			return samples, err
		}
		return samples, nil
	}
	bridge := c.Chan(ctx, 64)
	perWorker := make([][]time.Duration, workers)
	var group sync.WaitGroup
	for w := range perWorker {
		group.Add(1)
		go func() {
			defer group.Done()
			mine := make([]time.Duration, 0, count/uint64(workers)+1)
			for m := range bridge.C {
				mine = append(mine, time.Since(start)-time.Duration(binary.LittleEndian.Uint64(m.Bytes())))
				m.Release()
			}
			perWorker[w] = mine
		}()
	}
	group.Wait()
	if err := bridge.Wait(); err != shmlane.ErrDisconnected {
		return nil, err
	}
	for _, mine := range perWorker {
		samples = append(samples, mine...)
	}
	slices.Sort(samples)
	return samples, nil
}
