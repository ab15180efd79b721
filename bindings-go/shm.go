package shmlane

// Ring files: names, creating, opening, validating, removing; the mapping.
//
// A creator opens the file with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, sets its
// mode, allocates it with fallocate, maps it, writes the header and stores the
// ready word last (release). An opener waits (bounded) for the ready word,
// copies the header and validates every field against values it recomputes,
// and from then on uses only its own validated Geometry. The same steps as the
// Rust crate's shm.rs.

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ShmDir is the directory ring names are resolved in.
const ShmDir = "/dev/shm"

// MaxNameLen is the longest ring name.
const MaxNameLen = 200

// PathFor returns the path a ring name stands for: /dev/shm/<name>. A name is
// 1-200 characters of [A-Za-z0-9._-] and does not start with a dot.
func PathFor(name string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadName, name, reason)
	}
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > MaxNameLen:
		return bad("it is longer than 200 characters")
	case strings.ContainsRune(name, '/'):
		// Before the leading dot: ../x is a path given as a name.
		return bad("it may not contain '/'; to give a path, use CreateAt, OpenAt, InfoAt or RemoveAt")
	case name[0] == '.':
		return bad("it starts with a dot")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return bad("it may hold only ASCII letters, digits, '.', '_' and '-'")
		}
	}
	return ShmDir + "/" + name, nil
}

// Options say how to create a ring. Make them with SPSCOptions,
// SPSCFixedOptions, MPMCOptions or MPMCFixedOptions.
type Options struct {
	Kind         Kind
	Capacity     uint64 // slots, a power of two in 2..2^32
	SlotSize     uint64 // bytes per slot, slot header included, a multiple of 8
	Participants uint32 // participant records: 2 for SPSC, 2..1024 for MPMC
	FixedSize    bool   // every message exactly MaxPayload bytes, no length field
	Mode         uint32 // file mode, set exactly (not masked by the umask); 0 means 0600
}

// SPSCOptions: an SPSC ring of capacity slots of slotSize bytes (8 of which
// hold the message length).
func SPSCOptions(capacity, slotSize uint64) Options {
	return Options{Kind: SPSC, Capacity: capacity, SlotSize: slotSize, Participants: 2, Mode: 0o600}
}

// SPSCFixedOptions: an SPSC ring of messages of exactly messageSize bytes (a
// multiple of 8), in slots that hold only the message.
func SPSCFixedOptions(capacity, messageSize uint64) Options {
	o := SPSCOptions(capacity, messageSize)
	o.FixedSize = true
	return o
}

// MPMCOptions: an MPMC ring of capacity slots of slotSize bytes (16 of which
// hold the stamp and the length), with room for participants handles.
func MPMCOptions(capacity, slotSize uint64, participants uint32) Options {
	return Options{Kind: MPMC, Capacity: capacity, SlotSize: slotSize, Participants: participants, Mode: 0o600}
}

// MPMCFixedOptions: an MPMC ring of messages of exactly messageSize bytes:
// each slot is an 8-byte stamp and the message.
func MPMCFixedOptions(capacity, messageSize uint64, participants uint32) Options {
	o := MPMCOptions(capacity, messageSize+MPMC.slotHeaderSize(true), participants)
	o.FixedSize = true
	return o
}

// WithMode returns the options with file mode mode. It must include 0600 and
// hold only permission bits.
func (o Options) WithMode(mode uint32) Options {
	o.Mode = mode
	return o
}

// MaxPayload is the largest message of a ring made with these options.
func (o Options) MaxPayload() uint64 {
	h := o.Kind.slotHeaderSize(o.FixedSize)
	if o.SlotSize < h {
		return 0
	}
	return o.SlotSize - h
}

type openConfig struct {
	readyTimeout    time.Duration
	expectKind      Kind
	allowOtherOwner bool
	allowSharedMode bool
}

// OpenOption changes how Open and OpenAt open a ring.
type OpenOption func(*openConfig)

// ReadyTimeout: how long to wait for a creator that has not finished the
// header (default 2 s).
func ReadyTimeout(d time.Duration) OpenOption { return func(c *openConfig) { c.readyTimeout = d } }

// ExpectKind: refuse a ring of any other kind with ErrWrongKind.
func ExpectKind(k Kind) OpenOption { return func(c *openConfig) { c.expectKind = k } }

// AllowOtherOwner: accept a ring file owned by another user (refused by default).
func AllowOtherOwner() OpenOption { return func(c *openConfig) { c.allowOtherOwner = true } }

// AllowSharedMode: accept a ring file writable by group or others (refused by default).
func AllowSharedMode() OpenOption { return func(c *openConfig) { c.allowSharedMode = true } }

// Ring is an open ring file: the mapping that producers and consumers join.
//
// Closing the Ring does not close handles joined from it: the mapping stays
// until the Ring and every handle are closed. A Ring may be used by several
// goroutines at once (joining, Info, Close); its handles may not.
type Ring struct {
	path string
	fd   int    // the ring's file; it never holds locks itself, so it can test everyone's
	data []byte // the whole mapping
	base unsafe.Pointer
	geo  Geometry
	// refs counts the Ring itself and every open handle; the mapping goes at 0.
	refs   atomic.Int32
	closed atomic.Bool
}

// Create creates the ring /dev/shm/<name>.
func Create(name string, opts Options) (*Ring, error) {
	path, err := PathFor(name)
	if err != nil {
		return nil, err
	}
	return CreateAt(path, opts)
}

// CreateAt creates a ring in the file at path (any file system; the file must
// not exist).
func CreateAt(path string, opts Options) (*Ring, error) {
	geo, err := newGeometry(opts.Kind, opts.Capacity, opts.SlotSize, opts.Participants, opts.FixedSize)
	if err != nil {
		return nil, err
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o600
	}
	if mode&0o600 != 0o600 || mode&^0o777 != 0 {
		return nil, fmt.Errorf("%w for %s: mode %04o (Options.Mode, WithMode) must include owner read and write (0600) and hold only permission bits (0777)",
			ErrPermission, path, mode)
	}
	if geo.TotalSize > uint64(maxInt) {
		return nil, fmt.Errorf("%w: a ring of %d bytes does not fit this address space", ErrBadGeometry, geo.TotalSize)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|openFlags, 0o600)
	if err != nil {
		if err == syscall.ENOENT {
			return nil, fmt.Errorf("shmlane: creating the ring file (its directory does not exist): %w", err)
		}
		return nil, openError(path, err)
	}
	ok := false
	defer func() {
		if !ok {
			syscall.Close(fd)
			syscall.Unlink(path)
		}
	}()
	// Created private, then given its final mode before the ready word.
	if err := syscall.Fchmod(fd, mode); err != nil {
		return nil, fmt.Errorf("shmlane: setting the ring file's mode: %w", err)
	}
	// fallocate, so that a full tmpfs fails here rather than with SIGBUS later.
	if err := syscall.Fallocate(fd, 0, 0, int64(geo.TotalSize)); err != nil {
		if err != syscall.EOPNOTSUPP {
			return nil, fmt.Errorf("shmlane: allocating the ring file: %w", err)
		}
		if err := syscall.Ftruncate(fd, int64(geo.TotalSize)); err != nil {
			return nil, fmt.Errorf("shmlane: sizing the ring file: %w", err)
		}
	}
	data, err := syscall.Mmap(fd, 0, int(geo.TotalSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shmlane: mapping the new ring: %w", err)
	}
	r := newRing(path, fd, data, geo)
	if geo.Kind == MPMC {
		for position := uint64(0); position < geo.Capacity; position++ {
			// Ordering: published by the release store of the ready word below.
			atomic.StoreUint64(r.u64At(geo.slotOffset(position)), position)
		}
	}
	header := geo.headerBytes(uint32(os.Getpid()), uint64(time.Now().UnixNano()))
	// Everything but the magic (0..8) and the ready word (128..132), which
	// openers read atomically, with plain copies.
	copy(data[8:hdrReady], header[8:hdrReady])
	copy(data[hdrReady+4:HeaderSize], header[hdrReady+4:])
	// Ordering: release (sequentially consistent), pairs with the acquire
	// fence after the magic load in Rust's map_validated: an opener that sees
	// the magic before the ready word sees the creator's pid.
	atomic.StoreUint64(r.u64At(hdrMagic), Magic)
	// Ordering: release (sync/atomic is sequentially consistent), pairs with
	// the acquire load of the ready word in mapValidated (Go) and Rust's
	// map_validated: every header byte above is visible to an opener.
	atomic.StoreUint32(r.u32At(hdrReady), ReadyValue)
	ok = true
	return r, nil
}

const maxInt = int(^uint(0) >> 1)

func newRing(path string, fd int, data []byte, geo Geometry) *Ring {
	r := &Ring{path: path, fd: fd, data: data, base: unsafe.Pointer(&data[0]), geo: geo}
	r.refs.Store(1)
	return r
}

// Open opens the ring /dev/shm/<name>.
func Open(name string, opts ...OpenOption) (*Ring, error) {
	path, err := PathFor(name)
	if err != nil {
		return nil, err
	}
	return OpenAt(path, opts...)
}

// OpenAt opens the ring in the file at path.
func OpenAt(path string, opts ...OpenOption) (*Ring, error) {
	cfg := openConfig{readyTimeout: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|openFlags, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	data, geo, err := openValidated(fd, path, &cfg, true)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return newRing(path, fd, data, geo), nil
}

// openValidated checks the file, waits for its ready word, maps it and
// validates the header.
func openValidated(fd int, path string, cfg *openConfig, writable bool) ([]byte, Geometry, error) {
	if err := requireRegularFile(fd, path); err != nil {
		return nil, Geometry{}, err
	}
	if writable {
		if err := checkOwnerAndMode(fd, path, cfg); err != nil {
			return nil, Geometry{}, err
		}
	}
	data, geo, err := mapValidated(fd, cfg, writable)
	if err != nil {
		return nil, Geometry{}, err
	}
	if writable {
		// Again once ready: the creator sets the final mode before its ready word.
		if err := checkOwnerAndMode(fd, path, cfg); err != nil {
			syscall.Munmap(data)
			return nil, Geometry{}, err
		}
	}
	return data, geo, nil
}

func requireRegularFile(fd int, path string) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("shmlane: fstat of the ring file: %w", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file", ErrNotRing, path)
	}
	return nil
}

func checkOwnerAndMode(fd int, path string, cfg *openConfig) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("shmlane: fstat of the ring file: %w", err)
	}
	if euid := uint32(syscall.Geteuid()); !cfg.allowOtherOwner && st.Uid != euid {
		return fmt.Errorf("%w for %s: the file is owned by uid %d, not by this process's uid %d; to accept that, open it with shmlane.AllowOtherOwner()",
			ErrPermission, path, st.Uid, euid)
	}
	if !cfg.allowSharedMode && st.Mode&0o022 != 0 {
		return fmt.Errorf("%w for %s: the file's mode %04o lets group or others write it; to accept that, open it with shmlane.AllowSharedMode()",
			ErrPermission, path, st.Mode&0o7777)
	}
	return nil
}

// mapValidated waits for the creator's ready word, then maps and validates the ring.
// processRuns reports whether a process of this pid exists (of any uid).
func processRuns(pid uint32) bool {
	if pid == 0 || pid > math.MaxInt32 {
		return false
	}
	err := syscall.Kill(int(pid), 0)
	return err == nil || err == syscall.EPERM
}

func mapValidated(fd int, cfg *openConfig, writable bool) ([]byte, Geometry, error) {
	started := time.Now()
	var data []byte
	fail := func(err error) ([]byte, Geometry, error) {
		if data != nil {
			syscall.Munmap(data)
		}
		return nil, Geometry{}, err
	}
	for attempt := 0; ; attempt++ {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return fail(fmt.Errorf("shmlane: fstat of the ring file: %w", err))
		}
		if data == nil && st.Size > 0 {
			if st.Size < HeaderSize {
				// A creator extends the file to its full size in one fallocate.
				return fail(fmt.Errorf("%w: the file is %d bytes, shorter than a %d-byte header", ErrNotRing, st.Size, HeaderSize))
			}
			if uint64(st.Size) > uint64(maxInt) {
				return fail(fmt.Errorf("%w: the file is %d bytes, too large to map", ErrNotRing, st.Size))
			}
			prot := syscall.PROT_READ
			if writable {
				prot |= syscall.PROT_WRITE
			}
			mapped, err := syscall.Mmap(fd, 0, int(st.Size), prot, syscall.MAP_SHARED)
			if err != nil {
				return fail(fmt.Errorf("shmlane: mapping the ring: %w", err))
			}
			data = mapped
		}
		if data != nil {
			// In bounds: the mapping is at least HeaderSize bytes and page-aligned.
			ready := (*uint32)(unsafe.Pointer(&data[hdrReady]))
			magic := (*uint64)(unsafe.Pointer(&data[hdrMagic]))
			// Ordering: acquire, pairs with the creator's release store of the
			// ready word: the whole header is visible once we see it.
			if atomic.LoadUint32(ready) == ReadyValue {
				break
			}
			// Wait only while a creator may still be writing the header (its
			// magic is not there yet, or the creator it names still runs);
			// a header no creator will finish is corrupt at once.
			// Ordering: acquire (Go's atomics are sequentially consistent),
			// pairs with the creator's release store of the magic, stored
			// after creator_pid: seeing the magic, we see the pid. The magic
			// also tells a foreign file from a ring, so it comes first.
			found := atomic.LoadUint64(magic)
			if found != 0 && found != Magic {
				return fail(fmt.Errorf("%w: magic is %#018x, expected %#018x", ErrNotRing, found, Magic))
			}
			if r := atomic.LoadUint32(ready); r != 0 {
				return fail(fmt.Errorf("%w: header field ready is %#x, neither 0 (being created) nor %#x (ready)", ErrCorrupt, r, ReadyValue))
			}
			if found == Magic {
				pid := atomic.LoadUint32((*uint32)(unsafe.Pointer(&data[hdrCreatorPid])))
				if !processRuns(pid) {
					return fail(fmt.Errorf("%w: the ready word is unset and header field creator_pid is %d, which names no running process: no creator will finish this header",
						ErrCorrupt, pid))
				}
			}
		}
		waited := time.Since(started)
		if waited >= cfg.readyTimeout {
			return fail(fmt.Errorf("%w: the ring was not initialized by its creator within %v (shmlane.ReadyTimeout sets how long Open waits)",
				ErrNotReady, waited.Round(time.Millisecond)))
		}
		if attempt < 10 {
			schedYield()
		} else {
			time.Sleep(min(time.Millisecond, cfg.readyTimeout-waited))
		}
	}
	var header [HeaderSize]byte
	copy(header[:], data[:HeaderSize])
	geo, err := geometryFromHeader(&header, uint64(len(data)))
	if err != nil {
		return fail(err)
	}
	if cfg.expectKind != 0 && cfg.expectKind != geo.Kind {
		return fail(fmt.Errorf("%w: ring is %v, expected %v", ErrWrongKind, geo.Kind, cfg.expectKind))
	}
	return data, geo, nil
}

func openError(path string, err error) error {
	switch err {
	case syscall.ENOENT:
		return fmt.Errorf("%w: no ring at %s", ErrNotFound, path)
	case syscall.EEXIST:
		return fmt.Errorf("%w: a file already exists at %s", ErrExists, path)
	case syscall.ELOOP:
		return fmt.Errorf("%w: %s is a symbolic link; rings are not opened through links", ErrSymlink, path)
	case syscall.EACCES, syscall.EPERM:
		return fmt.Errorf("%w for %s: %v", ErrPermission, path, err)
	case syscall.EISDIR:
		return fmt.Errorf("%w: %s is a directory", ErrNotRing, path)
	}
	return fmt.Errorf("shmlane: opening the ring file %s: %w", path, err)
}

// Remove removes the ring /dev/shm/<name>. Mappings already open stay valid
// until their rings and handles are closed.
func Remove(name string) error {
	path, err := PathFor(name)
	if err != nil {
		return err
	}
	return RemoveAt(path)
}

// RemoveAt removes the ring file at path. Only a ring is removed: a file with
// the magic, or the leftovers of a creator that failed (an empty file, or one
// whose magic and ready word are both zero); anything else is ErrNotRing.
func RemoveAt(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|openFlags, 0)
	if err != nil {
		return openError(path, err)
	}
	defer syscall.Close(fd)
	if err := requireRegularFile(fd, path); err != nil {
		return err
	}
	var start [hdrReady + 4]byte
	n, err := syscall.Pread(fd, start[:], 0)
	if err != nil {
		return fmt.Errorf("shmlane: reading the ring file: %w", err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("shmlane: fstat of the ring file: %w", err)
	}
	magic := binary.LittleEndian.Uint64(start[:8])
	unfinished := magic == 0 && n == len(start) && binary.LittleEndian.Uint32(start[hdrReady:]) == 0
	if !(st.Size == 0 || magic == Magic || unfinished) {
		return fmt.Errorf("%w: %s does not hold a shmlane ring; not removed", ErrNotRing, path)
	}
	if err := syscall.Unlink(path); err != nil {
		return openError(path, err)
	}
	return nil
}

// Geometry returns the ring's validated geometry.
func (r *Ring) Geometry() Geometry { return r.geo }

// Kind returns the ring's kind.
func (r *Ring) Kind() Kind { return r.geo.Kind }

// MaxPayload returns the largest message the ring carries.
func (r *Ring) MaxPayload() int { return int(r.geo.MaxPayload) }

// Path returns the path of the ring's file.
func (r *Ring) Path() string { return r.path }

// Flush writes the mapping back to the file's storage and waits for it
// (msync(MS_SYNC)): every byte committed before the call is on stable storage
// when it returns, for a file-backed ring. Committed messages already survive
// the crash of any process without it (they are in the page cache).
func (r *Ring) Flush() error {
	// Hold a reference, so that a concurrent last Close cannot unmap meanwhile.
	if r.closed.Load() || !r.acquire() {
		return ErrClosed
	}
	defer r.release()
	_, _, errno := syscall.Syscall(syscall.SYS_MSYNC, uintptr(r.base), uintptr(len(r.data)), syscall.MS_SYNC)
	if errno != 0 {
		return fmt.Errorf("shmlane: msync of the ring: %w", errno)
	}
	return nil
}

// Close releases the Ring. The mapping stays until every handle joined from it
// is closed too. Closing twice returns ErrClosed.
func (r *Ring) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	r.release()
	return nil
}

// acquire counts a new handle; false if the ring is gone.
func (r *Ring) acquire() bool {
	for {
		n := r.refs.Load()
		if n <= 0 {
			return false
		}
		if r.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (r *Ring) release() {
	if r.refs.Add(-1) == 0 {
		syscall.Munmap(r.data)
		syscall.Close(r.fd)
		r.data = nil
		r.base = nil
	}
}

// u64At is the uint64 word at a layout offset. Offsets are layout constants or
// come from the validated geometry; the check catches a bug, never input.
func (r *Ring) u64At(offset uint64) *uint64 {
	if offset%8 != 0 || offset+8 > uint64(len(r.data)) {
		panic(fmt.Sprintf("shmlane: u64 offset %d outside the ring", offset))
	}
	// In bounds and 8-aligned (the mapping is page-aligned), as just checked.
	return (*uint64)(unsafe.Add(r.base, offset))
}

// u32At is the uint32 word at a layout offset, as u64At.
func (r *Ring) u32At(offset uint64) *uint32 {
	if offset%4 != 0 || offset+4 > uint64(len(r.data)) {
		panic(fmt.Sprintf("shmlane: u32 offset %d outside the ring", offset))
	}
	// In bounds and 4-aligned, as just checked.
	return (*uint32)(unsafe.Add(r.base, offset))
}
