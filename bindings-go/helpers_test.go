package shmlane

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var nameCounter atomic.Uint64

// uniqueName is a ring name no other test (or test process) uses.
func uniqueName(t testing.TB) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 120 {
		clean = clean[:120]
	}
	return fmt.Sprintf("go-test-%d-%d-%s", os.Getpid(), nameCounter.Add(1), clean)
}

// testRing creates a ring removed (and closed) when the test ends.
func testRing(t testing.TB, opts Options) *Ring {
	t.Helper()
	name := uniqueName(t)
	r, err := Create(name, opts)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		r.Close()
		if Remove(name) != nil {
			os.Remove(r.Path()) // a test scribbled over its header
		}
	})
	return r
}

func mustProducer(t testing.TB, r *Ring) *Producer {
	t.Helper()
	p, err := r.JoinProducer()
	if err != nil {
		t.Fatalf("join producer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustConsumer(t testing.TB, r *Ring) *Consumer {
	t.Helper()
	c, err := r.JoinConsumer()
	if err != nil {
		t.Fatalf("join consumer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustSend sends message without waiting; the ring must have room.
func mustSend(t testing.TB, p *Producer, message []byte) {
	t.Helper()
	if ok, err := p.TrySend(message); !ok {
		t.Fatalf("send %v: ok %v, %v", message, ok, err)
	}
}

// expectFull checks that the non-blocking reserve and send find the ring full.
func expectFull(t testing.TB, p *Producer) {
	t.Helper()
	if _, ok, err := p.TryReserve(); ok || err != nil {
		t.Fatalf("TryReserve on a full ring: ok %v, %v", ok, err)
	}
	if ok, err := p.TrySend([]byte{9}); ok || err != nil {
		t.Fatalf("TrySend on a full ring: ok %v, %v", ok, err)
	}
}

// expectEmpty checks that the non-blocking read finds the ring empty.
func expectEmpty(t testing.TB, c *Consumer) {
	t.Helper()
	if msg, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("TryRead on an empty ring: ok %v, %q, %v", ok, msg.Bytes(), err)
	}
}

// childEnv names the role a re-executed test binary plays (see TestMain).
const childEnv = "SHMLANE_GO_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Getenv("SHMLANE_GO_TEST_PATH")))
	}
	os.Exit(m.Run())
}

// runChild is a helper process: it joins the ring at path, does what role
// says, prints "ready" and then waits to be killed.
func runChild(role, path string) int {
	r, err := OpenAt(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 1
	}
	switch role {
	case "producer-sends-3":
		p, err := r.JoinProducer()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
		for i := 0; i < 3; i++ {
			if ok, err := p.TrySend([]byte{byte(i), 1, 2}); !ok {
				fmt.Fprintln(os.Stderr, "child send:", ok, err)
				return 1
			}
		}
	case "consumer-sleeps":
		c, err := r.JoinConsumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
		c.SetWaitStrategy(SleepingWaitStrategy())
		go func() {
			time.Sleep(50 * time.Millisecond)
			fmt.Println("ready")
		}()
		c.Read(context.Background())
		return 0
	case "consumer-reads-sleeping":
		// Reads messages with the sleeping strategy until the producer
		// leaves; prints their count and this process's CPU time.
		c, err := r.JoinConsumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
		c.SetWaitStrategy(SleepingWaitStrategy())
		fmt.Println("ready")
		count := 0
		for {
			m, ok, err := c.Read(context.Background())
			if err == ErrDisconnected {
				break
			}
			if !ok {
				fmt.Fprintln(os.Stderr, "child read:", ok, err)
				return 1
			}
			if m.Len() != 8 {
				fmt.Fprintln(os.Stderr, "child: message of", m.Len(), "bytes")
				return 1
			}
			m.Release()
			count++
		}
		var usage syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
		cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
		fmt.Printf("count=%d cpu_us=%d\n", count, cpu.Microseconds())
		return 0
	case "consumer-joins":
		if _, err := r.JoinConsumer(); err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
	case "mpmc-producer-reserves":
		// Claims the next position and dies holding it, uncommitted.
		p, err := r.JoinProducer()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
		if _, ok, err := p.TryReserve(); !ok {
			fmt.Fprintln(os.Stderr, "child reserve:", ok, err)
			return 1
		}
	case "mpmc-consumer-reads":
		// Claims the next message and dies holding it, unreleased.
		c, err := r.JoinConsumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child join:", err)
			return 1
		}
		if _, ok, err := c.TryRead(); !ok {
			fmt.Fprintln(os.Stderr, "child read:", ok, err)
			return 1
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		return 2
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

// startChild re-executes the test binary as a helper process playing role on
// the ring at path, and waits for its "ready" line.
func startChild(t *testing.T, role, path string) *exec.Cmd {
	cmd, _ := startChildOutput(t, role, path)
	return cmd
}

// startChildOutput is startChild, also handing back the rest of the child's
// standard output.
func startChildOutput(t *testing.T, role, path string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "SHMLANE_GO_TEST_PATH="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	reader := bufio.NewReader(out)
	line, err := reader.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child %s: %q %v", role, line, err)
	}
	return cmd, reader
}

func killChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}
