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
	mustSend(t, first, []byte("from the first"))
	mustSend(t, second, []byte("from the second"))
	c := mustConsumer(t, r)
	for _, want := range []string{"from the first", "from the second"} {
		msg, ok, err := c.TryRead()
		if !ok || string(msg.Bytes()) != want {
			t.Fatalf("want %q: %q %v %v", want, msg.Bytes(), ok, err)
		}
	}
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
}

func TestMPMCFullEmptyAndAbortedSlotsAreSkipped(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	slot, ok, err := p.TryReserve()
	if !ok {
		t.Fatal(ok, err)
	}
	slot.Abort()
	for i := 0; i < 3; i++ {
		mustSend(t, p, []byte{byte(i)})
	}
	expectFull(t, p)
	if _, ok, err := p.TryReserveBatch(2); ok || err != nil {
		t.Fatalf("batch of a full ring: %v %v", ok, err)
	}
	// A reservation superseded by the next one is skipped as well.
	for i := 0; i < 3; i++ {
		msg, ok, err := c.TryRead()
		if !ok || msg.Bytes()[0] != byte(i) {
			t.Fatalf("message %d: %v %v %v", i, msg.Bytes(), ok, err)
		}
	}
	p.TryReserve()
	p.TrySend([]byte{42})
	msg, ok, err := c.TryRead()
	if !ok || msg.Bytes()[0] != 42 {
		t.Fatalf("after a superseded slot: %v %v %v", msg.Bytes(), ok, err)
	}
	if _, ok, err := c.TryReadBatch(2); ok || err != nil {
		t.Fatalf("batch of an empty ring: %v %v", ok, err)
	}
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
}

func TestMPMCBatchesCommitFirstAndSkipTheRest(t *testing.T) {
	r := testRing(t, MPMCOptions(8, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	batch, ok, err := p.TryReserveBatch(5)
	if !ok || batch.Len() != 5 {
		t.Fatalf("batch: %d %v %v", batch.Len(), ok, err)
	}
	for i := 0; i < 5; i++ {
		batch.Write(i, []byte{byte(i), byte(i)})
	}
	batch.CommitFirst(3)
	read, ok, err := c.TryReadBatch(8)
	if !ok || read.Len() != 3 {
		t.Fatalf("read batch: %d %v %v", read.Len(), ok, err)
	}
	for i := 0; i < 3; i++ {
		if m := read.Message(i); len(m) != 2 || m[0] != byte(i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	read.Release()
	if _, ok, err := c.TryRead(); ok || err != nil {
		t.Fatalf("the skipped slots: %v %v", ok, err)
	}
	if b, ok, err := p.TryReserveBatch(8); !ok || b.Len() != 8 {
		t.Fatalf("all 8 slots free again: %d %v %v", b.Len(), ok, err)
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
	if _, ok, err := c.TryRead(); !ok {
		t.Fatalf("drain: %v %v", ok, err)
	}
	var err error
	for i := 0; i < 100 && err != ErrDisconnected; i++ {
		_, _, err = c.TryRead()
	}
	if err != ErrDisconnected {
		t.Fatalf("after the last producer left: %v", err)
	}
	// A new producer: not disconnected any more.
	p2 := mustProducer(t, r)
	p2.TrySend([]byte{2})
	if msg, ok, err := c.TryRead(); !ok || msg.Bytes()[0] != 2 {
		t.Fatalf("after a new producer: %v %v", ok, err)
	}
}

func TestMPMCBufferTooSmallKeepsTheClaimedMessage(t *testing.T) {
	r := testRing(t, MPMCOptions(4, 32, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	p.TrySend([]byte("0123456789"))
	if _, ok, err := c.TryRecv(make([]byte, 4)); ok || !errors.Is(err, ErrBufferTooSmall) {
		t.Fatalf("small buffer: %v %v", ok, err)
	}
	buf := make([]byte, 16)
	if n, ok, err := c.TryRecv(buf); !ok || string(buf[:n]) != "0123456789" {
		t.Fatalf("held message: %q %v %v", buf[:n], ok, err)
	}
}

func TestMPMCFixedSizeRing(t *testing.T) {
	r := testRing(t, MPMCFixedOptions(4, 8, 4))
	p, c := mustProducer(t, r), mustConsumer(t, r)
	if r.Geometry().SlotSize != 16 || p.MaxPayload() != 8 {
		t.Fatalf("geometry %+v", r.Geometry())
	}
	if ok, err := p.TrySend([]byte{1}); ok || !errors.Is(err, ErrWrongMessageSize) {
		t.Fatalf("short: %v %v", ok, err)
	}
	p.TrySend([]byte("abcdefgh"))
	if msg, ok, err := c.TryRead(); !ok || string(msg.Bytes()) != "abcdefgh" {
		t.Fatalf("read: %q %v %v", msg.Bytes(), ok, err)
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
				var ok bool
				var err error
				if seq%3 == 0 {
					var batch WriteBatch
					if batch, ok, err = p.ReserveBatch(ctx, 1); ok {
						batch.Write(0, msg)
						err = batch.Commit()
					}
				} else {
					ok, err = p.Send(ctx, msg)
				}
				if !ok || err != nil {
					t.Errorf("producer %d: %v %v", id, ok, err)
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
			for msg, err := range c.All(ctx) {
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
