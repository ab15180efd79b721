package shmlane

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenValidatesAnyHeader writes arbitrary bytes as a ring file and opens
// it: every outcome is a ring or one of the package's errors, never a panic,
// and an accepted geometry is consistent with the file. The seed corpus runs
// with go test; go test -fuzz=FuzzOpen explores further.
func FuzzOpenValidatesAnyHeader(f *testing.F) {
	for _, opts := range []Options{SPSCOptions(4, 16), SPSCFixedOptions(8, 8), MPMCOptions(4, 32, 3), MPMCFixedOptions(2, 8, 2)} {
		g, err := newGeometry(opts.Kind, opts.Capacity, opts.SlotSize, opts.Participants, opts.FixedSize)
		if err != nil {
			f.Fatal(err)
		}
		header := g.headerBytes(1, 2)
		binary.LittleEndian.PutUint32(header[hdrReady:], ReadyValue)
		file := make([]byte, g.TotalSize)
		copy(file, header[:])
		f.Add(file)
		f.Add(file[:HeaderSize])
	}
	f.Add([]byte("SHMLANE"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		path := filepath.Join(dir, "ring")
		os.Remove(path)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenAt(path, ReadyTimeout(0))
		if err != nil {
			known := []error{ErrNotRing, ErrVersion, ErrCorrupt, ErrBadGeometry, ErrFileTooSmall, ErrNotReady}
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("unexpected error: %v", err)
		}
		defer r.Close()
		g := r.Geometry()
		if g.TotalSize > uint64(len(data)) || g.SlotsOffset+g.Capacity*g.SlotSize != g.TotalSize {
			t.Fatalf("accepted an inconsistent geometry %+v for %d bytes", g, len(data))
		}
		// Joining and a look at the ring stay within bounds too.
		if p, err := r.JoinProducer(); err == nil {
			p.TrySend(nil)
			p.Close()
		}
		if c, err := r.JoinConsumer(); err == nil {
			c.TryRead()
			c.Close()
		}
	})
}
