package main

import (
	"encoding/binary"
	"testing"
)

// The reference value every implementation of the format reproduces (the
// Rust and C peers test the same number).
func TestReferenceMessageHasTheReferenceChecksum(t *testing.T) {
	buf := make([]byte, 32)
	writeMessage(buf, 1, 2)
	if string(buf[16:24]) != string([]byte{47, 48, 49, 50, 51, 52, 53, 54}) {
		t.Fatalf("filler %v", buf[16:24])
	}
	if sum := binary.LittleEndian.Uint64(buf[24:]); sum != 0x4e3fd23bb712e37e {
		t.Fatalf("checksum %#x", sum)
	}
	if p, s, err := checkMessage(buf); err != nil || p != 2 || s != 1 {
		t.Fatalf("check: %d %d %v", p, s, err)
	}
}

func TestEveryFlippedBitFailsTheCheck(t *testing.T) {
	buf := make([]byte, 40)
	writeMessage(buf, 5, 1)
	for i := range buf {
		corrupted := append([]byte(nil), buf...)
		corrupted[i] ^= 0x10
		if _, _, err := checkMessage(corrupted); err == nil {
			t.Fatalf("flip in byte %d went unnoticed", i)
		}
	}
	if _, _, err := checkMessage(buf[:32]); err == nil {
		t.Fatal("truncated message passed")
	}
}
