package shmlane

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestMPMCMessagesGoInOrderFromSeveralProducers(t *testing.T) {
	r := testRing(t, MPMCOptions(16, 64, 8))
	first, second := mustProducer(t, r), mustProducer(t, r)
	if err := first.TrySend([]byte("from the first")); err != nil {
		t.Fatal(err)
	}
	if err := second.TrySend([]byte("from the second")); err != nil {
		t.Fatal(err)
	}
	c := mustConsumer(t, r)
	for _, want := range []string{"from the first", "from the second"} {
		msg, err := c.TryRead()
		if err != nil || string(msg.Bytes()) != want {
			t.Fatalf("want %q: %q %v", want, msg.Bytes(), err)
		}
	}
	if _, err := c.TryRead(); err != ErrEmpty {
		t.Fatalf("empty: %v", err)
	}
}

func TestMPMCFullEmptyAndAbortedSlotsAreSkipped(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	slot, err := p.TryReserve()
	if err != nil {
		t.Fatal(err)
	}
	slot.Abort()
	for i := 0; i < 3; i++ {
		if err := p.TrySend([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.TrySend([]byte{9}); err != ErrFull {
		t.Fatalf("full: %v", err)
	}
	// A reservation superseded by the next one is skipped as well.
	for i := 0; i < 3; i++ {
		msg, err := c.TryRead()
		if err != nil || msg.Bytes()[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, msg.Bytes(), err)
		}
	}
	p.TryReserve()
	p.TrySend([]byte{42})
	msg, err := c.TryRead()
	if err != nil || msg.Bytes()[0] != 42 {
		t.Fatalf("after a superseded slot: %v %v", msg.Bytes(), err)
	}
	if _, err := c.TryRead(); err != ErrEmpty {
		t.Fatalf("empty: %v", err)
	}
}

func TestMPMCBatchesCommitFirstAndSkipTheRest(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	batch, err := p.TryReserveBatch(5)
	if err != nil || batch.Len() != 5 {
		t.Fatalf("batch: %d %v", batch.Len(), err)
	}
	for i := 0; i < 5; i++ {
		batch.Write(i, []byte{byte(i), byte(i)})
	}
	batch.CommitFirst(3)
	read, err := c.TryReadBatch(8)
	if err != nil || read.Len() != 3 {
		t.Fatalf("read batch: %d %v", read.Len(), err)
	}
	for i := 0; i < 3; i++ {
		if m := read.Message(i); len(m) != 2 || m[0] != byte(i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	read.Release()
	if _, err := c.TryRead(); err != ErrEmpty {
		t.Fatalf("the skipped slots: %v", err)
	}
	if _, err := p.TryReserveBatch(8); err != nil {
		t.Fatalf("all 8 slots free again: %v", err)
	}
}

func TestMPMCTooManyParticipantsAndDisconnect(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 2))
	p, _ := r.JoinProducer()
	c := mustConsumer(t, r)
	if _, err := r.JoinProducer(); !errors.Is(err, ErrTooManyParticipants) {
		t.Fatalf("third participant: %v", err)
	}
	p.TrySend([]byte{1})
	p.Close()
	if _, err := c.TryRead(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	var err error
	for i := 0; i < 100 && err != ErrDisconnected; i++ {
		_, err = c.TryRead()
	}
	if err != ErrDisconnected {
		t.Fatalf("after the last producer left: %v", err)
	}
	// A new producer: not disconnected any more.
	p2 := mustProducer(t, r)
	p2.TrySend([]byte{2})
	if msg, err := c.TryRead(); err != nil || msg.Bytes()[0] != 2 {
		t.Fatalf("after a new producer: %v", err)
	}
}

func TestMPMCBufferTooSmallKeepsTheClaimedMessage(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	p.TrySend([]byte("0123456789"))
	if _, err := c.TryRecv(make([]byte, 4)); !errors.Is(err, ErrBufferTooSmall) {
		t.Fatalf("small buffer: %v", err)
	}
	buf := make([]byte, 16)
	if n, err := c.TryRecv(buf); err != nil || string(buf[:n]) != "0123456789" {
		t.Fatalf("held message: %q %v", buf[:n], err)
	}
}

func TestMPMCFixedSizeRing(t *testing.T) {
	r := testRing(t, MPMCFixedOptions(4, 8, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	if r.Geometry().SlotSize != 16 || p.MaxPayload() != 8 {
		t.Fatalf("geometry %+v", r.Geometry())
	}
	if err := p.TrySend([]byte{1}); !errors.Is(err, ErrWrongMessageSize) {
		t.Fatalf("short: %v", err)
	}
	p.TrySend([]byte("abcdefgh"))
	if msg, err := c.TryRead(); err != nil || string(msg.Bytes()) != "abcdefgh" {
		t.Fatalf("read: %q %v", msg.Bytes(), err)
	}
}

// Two producer and two consumer goroutines, each with its own handle, move
// sequence-numbered messages; every message arrives exactly once.
func TestMPMCTwoProducersTwoConsumersDeliverEachMessageOnce(t *testing.T) {
	const perProducer = 20000
	r := testRing(t, MPMCOptions(64, 32, 8))
	consumers := []*Consumer{mustConsumer(t, r), mustConsumer(t, r)}
	producers := []*Producer{mustProducer(t, r), mustProducer(t, r)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for id, p := range producers {
		wg.Add(1)
		go func(id int, p *Producer) {
			defer wg.Done()
			defer p.Close()
			msg := make([]byte, 16)
			for seq := 0; seq < perProducer; seq++ {
				binary.LittleEndian.PutUint64(msg, uint64(id))
				binary.LittleEndian.PutUint64(msg[8:], uint64(seq))
				var err error
				if seq%3 == 0 {
					var batch WriteBatch
					if batch, err = p.ReserveBatch(ctx, 1); err == nil {
						batch.Write(0, msg)
						err = batch.Commit()
					}
				} else {
					err = p.Send(ctx, msg)
				}
				if err != nil {
					t.Errorf("producer %d: %v", id, err)
					return
				}
			}
		}(id, p)
	}
	seen := make([][]map[uint64]bool, len(consumers))
	for i, c := range consumers {
		seen[i] = []map[uint64]bool{{}, {}}
		wg.Add(1)
		go func(c *Consumer, seen []map[uint64]bool) {
			defer wg.Done()
			last := []int64{-1, -1}
			for msg, err := range c.Messages(ctx) {
				if err != nil {
					if err != ErrDisconnected {
						t.Errorf("consumer: %v", err)
					}
					return
				}
				id := binary.LittleEndian.Uint64(msg)
				seq := binary.LittleEndian.Uint64(msg[8:])
				if id > 1 || int64(seq) <= last[id] {
					t.Errorf("message %d/%d after %d", id, seq, last[id])
					return
				}
				last[id] = int64(seq)
				seen[id][seq] = true
			}
		}(c, seen[i])
	}
	wg.Wait()
	for id := 0; id < 2; id++ {
		total := 0
		for seq := uint64(0); seq < perProducer; seq++ {
			n := 0
			for i := range consumers {
				if seen[i][id][seq] {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("message %d/%d seen %d times", id, seq, n)
			}
			total += n
		}
		if total != perProducer {
			t.Fatalf("producer %d: %d messages", id, total)
		}
	}
}
