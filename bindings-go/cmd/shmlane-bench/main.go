// Command shmlane-bench measures the Go package's SPSC one-at-a-time
// throughput against the Rust API's in the same run.
//
//	shmlane-bench threads [MESSAGES]
//	    The loop of the Rust crate's benches/src/bin/spsc_throughput.rs in Go:
//	    8-byte messages, one at a time (TryReserve/Commit, TryRead/Release),
//	    between two goroutines, on a fixed-size ring of 1024 slots. Prints
//	    "go messages=N seconds=S rate=R" (messages per second).
//
//	shmlane-bench compare --rust-throughput BIN --rust-peer BIN --go-peer BIN [--rounds R] [--messages N] [--size S]
//	    Runs, alternately and R times (default 3): Rust's spsc-throughput
//	    and "threads" above (in-process, two threads); then, across processes
//	    through the conformance peers (checksummed messages of S bytes, default
//	    64, SPSC ring of 1024 slots, non-blocking calls), a Rust producer with
//	    a Rust consumer, a Rust producer with a Go consumer, a Go producer
//	    with a Go consumer and a Go producer with a Rust consumer. Prints every
//	    rate, the medians, and the ratios Go/Rust.
//
//	shmlane-bench bridge-latency [--rate R] [--seconds S] [--workers N] [--rounds R] [--wait W]
//	    In one process, at a paced rate (default 100000/s), the latency from
//	    publish to receipt of 8-byte messages read with Read, and through the
//	    channel bridge to N workers (default 4), alternately R times (default
//	    3): p50, p99, p99.9 and max in µs per run (bridge_latency.go).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"shmlane.dev/shmlane"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "threads":
		messages := uint64(10_000_000)
		if len(os.Args) > 2 {
			n, err := strconv.ParseUint(os.Args[2], 10, 64)
			if err != nil {
				usage()
			}
			messages = n
		}
		rate, seconds, err := threads(messages)
		if err != nil {
			fail(err)
		}
		fmt.Printf("go messages=%d seconds=%.4f rate=%.0f\n", messages, seconds, rate)
	case "compare":
		compare(os.Args[2:])
	case "bridge-latency":
		bridgeLatency(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: shmlane-bench threads [MESSAGES] | compare --rust-throughput BIN --rust-peer BIN --go-peer BIN [--rounds R] [--messages N] [--size S] | bridge-latency [--rate R] [--seconds S] [--workers N] [--rounds R] [--wait default|spin|sleep]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "shmlane-bench:", err)
	os.Exit(1)
}

// threads is spsc_throughput.rs in Go: the consumer goroutine checks the order.
func threads(messages uint64) (rate, seconds float64, err error) {
	if runtime.GOMAXPROCS(0) < 2 {
		return 0, 0, fmt.Errorf("needs GOMAXPROCS >= 2")
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("shmlane-spsc-throughput-go-%d", os.Getpid()))
	os.Remove(path)
	r, err := shmlane.CreateAt(path, shmlane.SPSCFixedOptions(1024, 8))
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	defer r.Close()
	p, err := r.JoinProducer()
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	c, err := r.JoinConsumer()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	started := time.Now()
	// As spsc_throughput.rs: the producer on CPU 0, the consumer on CPU 1,
	// each goroutine locked to its OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pinToCPU(0)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pinToCPU(1)
		idle := 0
		for expected := uint64(0); expected < messages; {
			m, ok, err := c.TryRead()
			if err != nil {
				done <- err
				return
			}
			if !ok {
				// Poll again at once, as the Rust and C loops do; yield now
				// and then should both goroutines share a thread.
				if idle++; idle%1024 == 0 {
					runtime.Gosched()
				}
				continue
			}
			if binary.LittleEndian.Uint64(m.Bytes()) != expected {
				done <- fmt.Errorf("out of order at %d", expected)
				return
			}
			m.Release()
			expected++
		}
		done <- nil
	}()
	idle := 0
	for next := uint64(0); next < messages; {
		s, ok, err := p.TryReserve()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			if idle++; idle%1024 == 0 {
				runtime.Gosched()
			}
			continue
		}
		binary.LittleEndian.PutUint64(s.Bytes(), next)
		if err := s.Commit(8); err != nil {
			return 0, 0, err
		}
		next++
	}
	if err := <-done; err != nil {
		return 0, 0, err
	}
	seconds = time.Since(started).Seconds()
	return float64(messages) / seconds, seconds, nil
}

// pinToCPU pins the calling OS thread to one CPU (best effort, as in
// spsc_throughput.rs).
func pinToCPU(cpu int) {
	var set [16]uint64
	set[cpu/64] |= 1 << (cpu % 64)
	syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set)))
}

func median(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func compare(words []string) {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	rustThroughput := fs.String("rust-throughput", "", "Rust's spsc-throughput binary")
	rustPeer := fs.String("rust-peer", "", "Rust's shmlane-peer binary")
	goPeer := fs.String("go-peer", "", "Go's shmlane-peer binary")
	rounds := fs.Int("rounds", 3, "rounds of each measure (medians are reported)")
	messages := fs.Uint64("messages", 1_000_000, "messages per cross-process run")
	threadMessages := fs.Uint64("thread-messages", 10_000_000, "messages per in-process run")
	size := fs.Int("size", 64, "message size of the cross-process runs")
	fs.Parse(words)
	if *rustThroughput == "" || *rustPeer == "" || *goPeer == "" {
		usage()
	}
	results := map[string][]float64{}
	order := []string{}
	record := func(name string, rate float64) {
		if _, ok := results[name]; !ok {
			order = append(order, name)
		}
		results[name] = append(results[name], rate)
	}
	pairs := [][2]string{{"rust", "rust"}, {"rust", "go"}, {"go", "go"}, {"go", "rust"}}
	peers := map[string]string{"rust": *rustPeer, "go": *goPeer}
	for round := 0; round < *rounds; round++ {
		out, err := exec.Command(*rustThroughput, strconv.FormatUint(*threadMessages, 10)).Output()
		if err != nil {
			fail(fmt.Errorf("%s: %v", *rustThroughput, err))
		}
		record("threads rust", parseRate(string(out)))
		rate, _, err := threads(*threadMessages)
		if err != nil {
			fail(err)
		}
		record("threads go", rate)
		for _, pair := range pairs {
			rate, err := crossProcess(peers[pair[0]], peers[pair[1]], *messages, *size)
			if err != nil {
				fail(fmt.Errorf("%s -> %s: %v", pair[0], pair[1], err))
			}
			record("processes "+pair[0]+"->"+pair[1], rate)
		}
	}
	medians := map[string]float64{}
	for _, name := range order {
		medians[name] = median(results[name])
		rates := make([]string, len(results[name]))
		for i, r := range results[name] {
			rates[i] = fmt.Sprintf("%.2f", r/1e6)
		}
		fmt.Printf("%-24s M msgs/s: %s  median %.2f\n", name, strings.Join(rates, " "), medians[name]/1e6)
	}
	fmt.Printf("ratio threads go/rust: %.2f\n", medians["threads go"]/medians["threads rust"])
	fmt.Printf("ratio processes rust->go / rust->rust (Go consumer): %.2f\n",
		medians["processes rust->go"]/medians["processes rust->rust"])
	fmt.Printf("ratio processes go->rust / rust->rust (Go producer): %.2f\n",
		medians["processes go->rust"]/medians["processes rust->rust"])
	fmt.Printf("ratio processes go->go / rust->rust: %.2f\n",
		medians["processes go->go"]/medians["processes rust->rust"])
}

func parseRate(out string) float64 {
	_, after, ok := strings.Cut(out, "rate=")
	if !ok {
		fail(fmt.Errorf("no rate in %q", out))
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(after), 64)
	if err != nil {
		fail(err)
	}
	return rate
}

// crossProcess times messages checksummed messages from producerPeer to
// consumerPeer through a new SPSC ring: from the producer's start until the
// consumer has seen the last one and exited.
func crossProcess(producerPeer, consumerPeer string, messages uint64, size int) (float64, error) {
	path := filepath.Join("/dev/shm", fmt.Sprintf("shmlane-bench-go-%d", os.Getpid()))
	os.Remove(path)
	defer os.Remove(path)
	create := exec.Command(producerPeer, "create", "--path", path, "--kind", "spsc", "--capacity", "1024",
		"--slot-size", strconv.Itoa((size+8+7)&^7))
	if out, err := create.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("create: %v %s", err, out)
	}
	consumer := exec.Command(consumerPeer, "consume", "--path", path, "--wait", "try",
		"--stop-after", strconv.FormatUint(messages, 10))
	var consumed strings.Builder
	consumer.Stdout = &consumed
	consumer.Stderr = os.Stderr
	if err := consumer.Start(); err != nil {
		return 0, err
	}
	started := time.Now()
	producer := exec.Command(producerPeer, "produce", "--path", path, "--wait", "try", "--id", "1",
		"--size", strconv.Itoa(size), "--count", strconv.FormatUint(messages, 10))
	producer.Stderr = os.Stderr
	if err := producer.Run(); err != nil {
		consumer.Process.Kill()
		consumer.Wait()
		return 0, fmt.Errorf("producer: %v", err)
	}
	if err := consumer.Wait(); err != nil {
		return 0, fmt.Errorf("consumer: %v", err)
	}
	seconds := time.Since(started).Seconds()
	if !strings.Contains(consumed.String(), fmt.Sprintf("consumed total=%d ", messages)) {
		return 0, fmt.Errorf("consumer said %q", consumed.String())
	}
	return float64(messages) / seconds, nil
}
