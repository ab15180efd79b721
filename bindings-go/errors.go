package shmlane

import (
	"errors"
	"fmt"
)

// Sentinel errors, for failures only. Every error this package returns is
// one of these, or wraps one (with detail, through fmt.Errorf("%w: ...")), so
// errors.Is tells them apart. The ordinary outcomes are not errors: a full or
// empty ring, and a blocking call whose context ended first, are the false ok
// of the call (see the package documentation).
var (
	// ErrDisconnected: the other side has closed or died (and, for consumers,
	// the ring is drained).
	ErrDisconnected = errors.New("shmlane: the other side of the ring has closed or died")
	// ErrNotRing: the file is not a shmlane ring (wrong magic, too short, not a
	// regular file).
	ErrNotRing = errors.New("shmlane: not a shmlane ring")
	// ErrVersion: the ring's major layout version is not one this package reads.
	ErrVersion = errors.New("shmlane: unsupported layout version")
	// ErrCorrupt: shared memory holds values that break the ring's invariants.
	ErrCorrupt = errors.New("shmlane: ring is corrupt")
	// ErrWrongKind: the ring is of another kind than the one asked for.
	ErrWrongKind = errors.New("shmlane: wrong kind of ring")
	// ErrRoleTaken: a live handle already plays this role on an SPSC ring.
	ErrRoleTaken = errors.New("shmlane: role already taken by a live handle")
	// ErrTooManyParticipants: every participant record is held by a live handle.
	ErrTooManyParticipants = errors.New("shmlane: too many participants")
	// ErrMessageTooLarge: a message longer than the ring's max payload.
	ErrMessageTooLarge = errors.New("shmlane: message too large")
	// ErrWrongMessageSize: a message whose length differs from a fixed-size
	// ring's message size.
	ErrWrongMessageSize = errors.New("shmlane: wrong message size for a fixed-size ring")
	// ErrBufferTooSmall: the buffer given to Recv is too small for the next
	// message, which stays with the consumer: its next read returns it.
	ErrBufferTooSmall = errors.New("shmlane: buffer too small")
	// ErrPermission: the file's owner or mode does not allow this use, or the
	// operating system refused access.
	ErrPermission = errors.New("shmlane: permission denied")
	// ErrNotFound: no file at the ring's path.
	ErrNotFound = errors.New("shmlane: no such ring")
	// ErrExists: a file already exists where a ring was to be created.
	ErrExists = errors.New("shmlane: ring already exists")
	// ErrBadName: a ring name that is not 1-200 characters of [A-Za-z0-9._-]
	// without a leading dot.
	ErrBadName = errors.New("shmlane: bad ring name")
	// ErrBadGeometry: capacity, slot size or participant count out of range.
	ErrBadGeometry = errors.New("shmlane: bad ring geometry")
	// ErrFileTooSmall: the file is shorter than the ring its header describes.
	ErrFileTooSmall = errors.New("shmlane: ring file too small")
	// ErrNotReady: the creator did not finish the header within the open timeout.
	ErrNotReady = errors.New("shmlane: ring not ready")
	// ErrSymlink: the path is a symbolic link; rings are never opened through links.
	ErrSymlink = errors.New("shmlane: ring path is a symbolic link")
	// ErrClosed: the handle or ring was closed.
	ErrClosed = errors.New("shmlane: handle closed")
	// ErrStaleSlot: the slot or batch was already committed, aborted or
	// released, or a later reserve or read of the same handle superseded it.
	ErrStaleSlot = errors.New("shmlane: slot no longer held")
)

// errSkipped marks the ErrCorrupt of a message whose length was out of bounds
// and which was skipped: the ring is usable after it, unlike after other
// corruption (impossible positions or stamps), which persists.
var errSkipped = errors.New("message skipped")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
