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

	slot, _ := producer.TryReserve()
	n := copy(slot.Bytes(), "hello")
	slot.Commit(n)

	msg, _ := consumer.TryRead()
	fmt.Println(string(msg.Bytes()))
	msg.Release()

	_, err = consumer.TryRead()
	fmt.Println(errors.Is(err, shmlane.ErrEmpty))
	// Output:
	// hello
	// true
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
	_, err := consumer.Read(ctx)
	fmt.Println(errors.Is(err, shmlane.ErrTimeout), errors.Is(err, context.DeadlineExceeded))

	producer.Close() // the last producer leaves: nothing more will come
	_, err = consumer.Read(context.Background())
	fmt.Println(errors.Is(err, shmlane.ErrDisconnected))
	// Output:
	// true true
	// true
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

	batch, _ := producer.TryReserveBatch(3)
	for i := 0; i < batch.Len(); i++ {
		copy(batch.Slot(i), fmt.Sprintf("rec-%04d", i))
	}
	batch.Commit()

	read, _ := consumer.TryReadBatch(10)
	for i := 0; i < read.Len(); i++ {
		fmt.Println(string(read.Message(i)))
	}
	read.Release()
	// Output:
	// rec-0000
	// rec-0001
	// rec-0002
}
