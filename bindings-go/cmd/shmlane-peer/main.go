// Command shmlane-peer is the Go member of the cross-language test peers: it
// creates a ring, produces checksummed sequence-numbered messages into it, or
// consumes and checks them. The command line and the message format are those
// of conformance/README.md, shared with the Rust and C peers:
//
//	shmlane-peer create  --path FILE --kind spsc|mpmc --capacity N --slot-size B [--participants P] [--fixed]
//	shmlane-peer produce --path FILE --count N --id K [--size S] [--wait try|block|sleep] [--batch B] [--die-holding]
//	shmlane-peer consume --path FILE [--wait try|block|sleep] [--batch B] [--stop-after N] [--producers N]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"shmlane.dev/shmlane"
)

type wait int

const (
	waitTry   wait = iota // non-blocking calls, retried after a yield
	waitBlock             // blocking calls, default strategy
	waitSleep             // blocking calls, straight to the futex
)

// blockFor is how long a blocking call waits at a time before looking again.
const blockFor = time.Second

type usageError struct{ error }

type args struct {
	command    string
	options    map[string]string
	fixed      bool
	dieHolding bool // produce: end holding a written, uncommitted slot until killed
}

func parseArgs(words []string) (*args, error) {
	if len(words) == 0 {
		return nil, usageError{errors.New("missing command: create, produce or consume")}
	}
	a := &args{command: words[0], options: map[string]string{}}
	for i := 1; i < len(words); i++ {
		name, ok := strings.CutPrefix(words[i], "--")
		if !ok {
			return nil, usageError{fmt.Errorf("unexpected argument %s", words[i])}
		}
		if name == "fixed" {
			a.fixed = true
			continue
		}
		if name == "die-holding" {
			a.dieHolding = true
			continue
		}
		if i+1 >= len(words) {
			return nil, usageError{fmt.Errorf("--%s needs a value", name)}
		}
		a.options[name] = words[i+1]
		i++
	}
	return a, nil
}

func (a *args) text(name string) (string, error) {
	v, ok := a.options[name]
	if !ok {
		return "", usageError{fmt.Errorf("--%s is required", name)}
	}
	return v, nil
}

func (a *args) number(name string, def *uint64) (uint64, error) {
	v, ok := a.options[name]
	if !ok {
		if def == nil {
			return 0, usageError{fmt.Errorf("--%s is required", name)}
		}
		return *def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, usageError{fmt.Errorf("--%s takes a number, not %s", name, v)}
	}
	return n, nil
}

func def(n uint64) *uint64 { return &n }

func (a *args) wait() (wait, error) {
	switch a.options["wait"] {
	case "", "try":
		return waitTry, nil
	case "block":
		return waitBlock, nil
	case "sleep":
		return waitSleep, nil
	}
	return 0, usageError{fmt.Errorf("--wait takes try, block or sleep, not %s", a.options["wait"])}
}

func main() {
	a, err := parseArgs(os.Args[1:])
	if err == nil {
		switch a.command {
		case "create":
			err = create(a)
		case "produce":
			err = produce(a)
		case "consume":
			err = consume(a)
		default:
			err = usageError{fmt.Errorf("unknown command %s", a.command)}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmlane-peer:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func create(a *args) error {
	path, err := a.text("path")
	if err != nil {
		return err
	}
	capacity, err := a.number("capacity", nil)
	if err != nil {
		return err
	}
	slotSize, err := a.number("slot-size", nil)
	if err != nil {
		return err
	}
	participants, err := a.number("participants", def(8))
	if err != nil {
		return err
	}
	if participants > 1<<32-1 {
		return usageError{errors.New("--participants too large")}
	}
	kind, err := a.text("kind")
	if err != nil {
		return err
	}
	var opts shmlane.Options
	switch {
	case kind == "spsc" && !a.fixed:
		opts = shmlane.SPSCOptions(capacity, slotSize)
	case kind == "spsc":
		opts = shmlane.SPSCFixedOptions(capacity, slotSize)
	case kind == "mpmc" && !a.fixed:
		opts = shmlane.MPMCOptions(capacity, slotSize, uint32(participants))
	case kind == "mpmc":
		// --slot-size counts the 8-byte stamp; MPMCFixedOptions takes the message size.
		opts = shmlane.MPMCFixedOptions(capacity, max(slotSize, 8)-8, uint32(participants))
	default:
		return usageError{fmt.Errorf("--kind takes spsc or mpmc, not %s", kind)}
	}
	r, err := shmlane.CreateAt(path, opts)
	if err != nil {
		return err
	}
	return r.Close()
}

func open(a *args) (*shmlane.Ring, error) {
	path, err := a.text("path")
	if err != nil {
		return nil, err
	}
	return shmlane.OpenAt(path, shmlane.ReadyTimeout(10*time.Second))
}

func strategy(w wait) shmlane.WaitStrategy {
	if w == waitSleep {
		return shmlane.SleepingWaitStrategy()
	}
	return shmlane.DefaultWaitStrategy()
}

func yield() {
	runtime.Gosched()
	syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}

// waiter hands out a context whose deadline is at most blockFor away, made
// anew only when a blocking call used it up: "1 s at a time, retried".
type waiter struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *waiter) context() context.Context {
	if w.ctx == nil || w.ctx.Err() != nil {
		if w.cancel != nil {
			w.cancel()
		}
		w.ctx, w.cancel = context.WithTimeout(context.Background(), blockFor)
	}
	return w.ctx
}

func produce(a *args) error {
	count, err := a.number("count", nil)
	if err != nil {
		return err
	}
	id, err := a.number("id", nil)
	if err != nil {
		return err
	}
	if id >= 1024 {
		return usageError{errors.New("--id is 0..1023")}
	}
	size64, err := a.number("size", def(64))
	if err != nil {
		return err
	}
	batch64, err := a.number("batch", def(1))
	if err != nil {
		return err
	}
	batch := int(max(batch64, 1))
	w, err := a.wait()
	if err != nil {
		return err
	}
	if size64 < minSize {
		return usageError{fmt.Errorf("--size is at least %d", minSize)}
	}
	r, err := open(a)
	if err != nil {
		return err
	}
	defer r.Close()
	size := int(size64)
	if size64 > uint64(r.MaxPayload()) {
		return usageError{fmt.Errorf("--size %d exceeds the ring's %d", size, r.MaxPayload())}
	}
	p, err := r.JoinProducer()
	if err != nil {
		return err
	}
	p.SetWaitStrategy(strategy(w))
	var wt waiter
	for next := uint64(0); next < count; {
		wanted := int(min(count-next, uint64(batch)))
		// ok false: nothing now (full, or a wait that timed out).
		written := 0
		var ok bool
		if wanted == 1 {
			var slot shmlane.WriteSlot
			if w == waitTry {
				slot, ok, err = p.TryReserve()
			} else {
				slot, ok, err = p.Reserve(wt.context())
			}
			if ok {
				writeMessage(slot.Bytes()[:size], next, uint32(id))
				if err = slot.Commit(size); err == nil {
					written = 1
				}
			}
		} else {
			var b shmlane.WriteBatch
			if w == waitTry {
				b, ok, err = p.TryReserveBatch(wanted)
			} else {
				b, ok, err = p.ReserveBatch(wt.context(), wanted)
			}
			if ok {
				for i := 0; i < b.Len() && err == nil; i++ {
					writeMessage(b.Slot(i)[:size], next+uint64(i), uint32(id))
					err = b.SetLen(i, size)
				}
				if err == nil {
					written = b.Len()
					err = b.Commit()
				}
			}
		}
		if err != nil {
			return err
		}
		next += uint64(written)
		if written == 0 && w == waitTry {
			yield()
		}
	}
	if a.dieHolding {
		return dieHolding(p, &wt, size, count, uint32(id))
	}
	if err := p.Close(); err != nil {
		return err
	}
	fmt.Printf("produced id=%d count=%d\n", id, count)
	return nil
}

// dieHolding reserves one more slot (waiting as long as it takes), writes the
// message of sequence count into it, never commits it, says so, and sleeps
// until the process is killed: a claimed, uncommitted slot for MPMC crash
// recovery to find.
func dieHolding(p *shmlane.Producer, wt *waiter, size int, count uint64, id uint32) error {
	for {
		slot, ok, err := p.Reserve(wt.context())
		if err != nil {
			return err
		}
		if ok {
			writeMessage(slot.Bytes()[:size], count, id)
			break
		}
	}
	fmt.Printf("holding id=%d count=%d\n", id, count) // os.Stdout is unbuffered
	for {
		time.Sleep(time.Second)
	}
}

// seen is what a consumer saw of one producer.
type seen struct {
	count, first, last, seqSum uint64
}

type tally struct {
	producers map[uint32]*seen
	total     uint64
}

func (t *tally) check(m []byte) error {
	producer, sequence, err := checkMessage(m)
	if err != nil {
		return err
	}
	if producer >= 1024 {
		return fmt.Errorf("producer id %d out of range", producer)
	}
	s := t.producers[producer]
	if s == nil {
		s = &seen{first: sequence}
		t.producers[producer] = s
	} else if sequence <= s.last {
		return fmt.Errorf("producer %d: sequence %d after %d", producer, sequence, s.last)
	}
	s.count++
	s.last = sequence
	s.seqSum += sequence
	t.total++
	return nil
}

func consume(a *args) error {
	batch64, err := a.number("batch", def(1))
	if err != nil {
		return err
	}
	batch := int(max(batch64, 1))
	stopAfter, err := a.number("stop-after", def(^uint64(0)))
	if err != nil {
		return err
	}
	producers, err := a.number("producers", def(0))
	if err != nil {
		return err
	}
	w, err := a.wait()
	if err != nil {
		return err
	}
	r, err := open(a)
	if err != nil {
		return err
	}
	defer r.Close()
	c, err := r.JoinConsumer()
	if err != nil {
		return err
	}
	c.SetWaitStrategy(strategy(w))
	t := tally{producers: map[uint32]*seen{}}
	var wt waiter
	var received uint64
	end := ""
	for end == "" {
		if received >= stopAfter {
			end = "stopped"
			break
		}
		wanted := int(min(stopAfter-received, uint64(batch)))
		// ok false: nothing now (empty, or a wait that timed out).
		read := 0
		var ok bool
		if wanted == 1 {
			var slot shmlane.ReadSlot
			if w == waitTry {
				slot, ok, err = c.TryRead()
			} else {
				slot, ok, err = c.Read(wt.context())
			}
			if ok {
				if err := t.check(slot.Bytes()); err != nil {
					return err
				}
				slot.Release()
				read = 1
			}
		} else {
			var b shmlane.ReadBatch
			if w == waitTry {
				b, ok, err = c.TryReadBatch(wanted)
			} else {
				b, ok, err = c.ReadBatch(wt.context(), wanted)
			}
			if ok {
				for i := 0; i < b.Len(); i++ {
					if err := t.check(b.Message(i)); err != nil {
						return err
					}
				}
				read = b.Len()
				b.Release()
			}
		}
		switch {
		case ok:
			received += uint64(read)
		case err == nil:
			if w == waitTry {
				yield()
			}
		case errors.Is(err, shmlane.ErrDisconnected) && uint64(len(t.producers)) >= producers:
			end = "disconnected"
		case errors.Is(err, shmlane.ErrDisconnected):
			// Not every producer has been heard from: one may not have joined yet.
			time.Sleep(time.Millisecond)
		default:
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	ids := make([]int, 0, len(t.producers))
	for id := range t.producers {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		s := t.producers[uint32(id)]
		fmt.Printf("producer=%d count=%d first=%d last=%d seqsum=%d\n", id, s.count, s.first, s.last, s.seqSum)
	}
	fmt.Printf("consumed total=%d end=%s\n", t.total, end)
	return nil
}
