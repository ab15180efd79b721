// Package shmlane is a pure-Go implementation of shmlane rings: lock-free
// SPSC and MPMC ring buffers in a shared-memory file, so a Go process can
// produce to or consume from Rust and C processes, zero-copy. It needs no cgo
// (CGO_ENABLED=0 builds it) and runs on little-endian 64-bit Linux.
//
// The byte layout (version 2) and every step of the protocol are specified,
// once and normatively, in the repository's docs/layout.md; this package
// follows it step for step, as the Rust crate and the C library do, so each
// can be the peer of the others. Each file names the sections it follows.
//
// A ring is created once (Create, CreateAt) and opened by every other process
// (Open, OpenAt); producers and consumers join it:
//
//	ring, err := shmlane.Open("ticks") // /dev/shm/ticks
//	...
//	consumer, err := ring.JoinConsumer()
//	...
//	defer consumer.Close()
//	for msg, err := range consumer.All(ctx) { // zero-copy, blocking, until ctx is done
//		if err != nil {
//			break // ErrDisconnected once the producers are gone and the ring is drained
//		}
//		handle(msg) // valid until the next iteration
//	}
//
// Outcomes are not errors. A call that claims slots or messages returns ok
// false, with a nil error, when it gets none: TryReserve, TrySend and the
// other Try calls when the ring is full (or empty), Reserve, Read and the
// other blocking calls when their context is done first, a deadline passed or
// a cancellation (ctx.Err() says which, and is set by the time they return).
// An error is a failure, one of the sentinel errors of this package (or one
// wrapping it), told apart with errors.Is; ok is then false.
//
//	slot, ok, err := producer.TryReserve()
//	if err != nil {
//		return err // ErrDisconnected, ErrCorrupt, ErrClosed
//	}
//	if !ok {
//		// full: try again later
//	}
//
// Zero-copy rules: the slice of a WriteSlot or WriteBatch is valid until its
// Commit or Abort, and that of a ReadSlot or ReadBatch until its Release; any
// later reserve (read) of the same handle, and Close, end it too. Copy what
// must outlive it: once the Ring and every handle of it are closed, the
// mapping is gone, and touching a slice taken earlier is a fatal fault that
// recover cannot catch.
//
// MPMC rings recover from a handle that dies holding a slot
// (docs/layout.md#mpmc-crash-recovery): a position a dead producer claimed
// and never committed is skipped, and a message a dead consumer claimed and
// never released is released unread, once it has stalled the ring for a
// millisecond; RingInfo.DroppedClaims and RingInfo.LostMessages count them. A live handle's
// slots are never taken, however long it keeps them.
//
// Handles (Producer, Consumer) are not safe for concurrent use by several
// goroutines; a Ring is. To hand a consumer's messages to several
// goroutines, Consumer.Chan starts a bridge that sends them, zero-copy, on a
// channel; each is released on its own, in any order, from any goroutine
// (Consumer.ChanCopy sends owned copies instead). Producer.SendFrom drains a
// channel into the ring. Shared memory is treated as untrusted input: a
// corrupted or hostile mapping gives ErrCorrupt, never a panic or an access
// outside the mapping. See docs/go.md.
package shmlane
