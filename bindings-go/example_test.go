package shmlane_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"shmlane.dev/shmlane"
)

// Zero-copy: reserve a slot, write in place, commit; read in place, release.
func Example() {
	name := fmt.Sprintf("example-%d", os.Getpid())
	ring, err := shmlane.Create(name, shmlane.SPSCOptions(1024, 64))
	if err != nil {
		panic(err)
	}
	defer shmlane.Remove(name)
	defer ring.Close()
	producer, _ := ring.JoinProducer()
	defer producer.Close()
	consumer, _ := ring.JoinConsumer() // in another process: shmlane.Open(name), then JoinConsumer
	defer consumer.Close()

	slot, ok, err := producer.TryReserve() // ok is false while the ring is full
	if err != nil || !ok {
		panic(fmt.Sprint(ok, err))
	}
	n := copy(slot.Bytes(), "hello")
	slot.Commit(n)

	msg, ok, err := consumer.TryRead()
	if err != nil || !ok {
		panic(fmt.Sprint(ok, err))
	}
	fmt.Println(string(msg.Bytes()))
	msg.Release()

	_, ok, err = consumer.TryRead() // the ring is empty: not an error
	fmt.Println(ok, err)
	// Output:
	// hello
	// false <nil>
}

// Blocking calls wait as the handle's WaitStrategy says, until the context ends.
func ExampleConsumer_Read() {
	name := fmt.Sprintf("example-read-%d", os.Getpid())
	ring, _ := shmlane.Create(name, shmlane.MPMCOptions(16, 64, 4))
	defer shmlane.Remove(name)
	defer ring.Close()
	consumer, _ := ring.JoinConsumer()
	defer consumer.Close()
	consumer.SetWaitStrategy(shmlane.SleepingWaitStrategy())
	producer, _ := ring.JoinProducer()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, ok, err := consumer.Read(ctx) // nothing came before the deadline: ok is false
	fmt.Println(ok, err, ctx.Err())

	producer.Close() // the last producer leaves: nothing more will come
	_, ok, err = consumer.Read(context.Background())
	fmt.Println(ok, errors.Is(err, shmlane.ErrDisconnected))
	// Output:
	// false <nil> context deadline exceeded
	// false true
}

// Batches reserve (or read) several slots and publish (or release) them together.
func ExampleProducer_TryReserveBatch() {
	name := fmt.Sprintf("example-batch-%d", os.Getpid())
	ring, _ := shmlane.Create(name, shmlane.SPSCFixedOptions(8, 8))
	defer shmlane.Remove(name)
	defer ring.Close()
	producer, _ := ring.JoinProducer()
	defer producer.Close()
	consumer, _ := ring.JoinConsumer()
	defer consumer.Close()

	batch, _, _ := producer.TryReserveBatch(3)
	for i := 0; i < batch.Len(); i++ {
		copy(batch.Slot(i), fmt.Sprintf("rec-%04d", i))
	}
	batch.Commit()

	read, _, _ := consumer.TryReadBatch(10)
	for i := 0; i < read.Len(); i++ {
		fmt.Println(string(read.Message(i)))
	}
	read.Release()
	// Output:
	// rec-0000
	// rec-0001
	// rec-0002
}
