package main

// The test message of conformance/README.md: sequence number, producer id,
// length, filler derived from the sequence number, FNV-1a 64 checksum.

import (
	"encoding/binary"
	"fmt"
)

// minSize is the smallest message: the three fields and the checksum.
const minSize = 24

func fnv1a(b []byte) uint64 {
	hash := uint64(0xcbf29ce484222325)
	for _, c := range b {
		hash ^= uint64(c)
		hash *= 0x100000001b3
	}
	return hash
}

func filler(sequence uint64, offset int) byte {
	return byte(sequence*31 + uint64(offset))
}

// writeMessage writes message sequence of producer into out (its whole length).
func writeMessage(out []byte, sequence uint64, producer uint32) {
	size := len(out)
	le := binary.LittleEndian
	le.PutUint64(out[0:], sequence)
	le.PutUint32(out[8:], producer)
	le.PutUint32(out[12:], uint32(size))
	for offset := 16; offset < size-8; offset++ {
		out[offset] = filler(sequence, offset)
	}
	le.PutUint64(out[size-8:], fnv1a(out[:size-8]))
}

// checkMessage checks a received message; returns (producer, sequence).
func checkMessage(m []byte) (uint32, uint64, error) {
	size := len(m)
	if size < minSize {
		return 0, 0, fmt.Errorf("message of %d bytes, below %d", size, minSize)
	}
	le := binary.LittleEndian
	sequence, producer, claimed := le.Uint64(m[0:]), le.Uint32(m[8:]), le.Uint32(m[12:])
	if int(claimed) != size {
		return 0, 0, fmt.Errorf("message %d of producer %d says %d bytes, has %d", sequence, producer, claimed, size)
	}
	if fnv1a(m[:size-8]) != le.Uint64(m[size-8:]) {
		return 0, 0, fmt.Errorf("message %d of producer %d: checksum mismatch", sequence, producer)
	}
	for offset := 16; offset < size-8; offset++ {
		if m[offset] != filler(sequence, offset) {
			return 0, 0, fmt.Errorf("message %d of producer %d: filler wrong at byte %d", sequence, producer, offset)
		}
	}
	return producer, sequence, nil
}
