//go:build linux && (amd64 || arm64 || riscv64 || loong64 || ppc64le)

package shmlane

// System calls this package needs and the standard library's syscall package
// does not wrap: the futex, open-file-description locks, sched_yield. Only
// little-endian 64-bit Linux targets are built: the layout is little-endian and
// slot lengths are read and written as native uint32 words.

import (
	"fmt"
	"math"
	"syscall"
	"time"
	"unsafe"
)

const (
	futexWaitOp = 0 // FUTEX_WAIT, never with FUTEX_PRIVATE_FLAG: the word is in a shared mapping
	futexWakeOp = 1 // FUTEX_WAKE

	fOFDGetLk = 36 // F_OFD_GETLK (asm-generic/fcntl.h, the same on every Linux target)
	fOFDSetLk = 37 // F_OFD_SETLK

	openFlags = syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK | syscall.O_NOCTTY
)

// futexWait sleeps while *word == expected, for at most timeout. It returns on
// a wake, a timeout, a signal, or at once if the word already differs; true if
// the timeout ran out.
func futexWait(word *uint32, expected uint32, timeout time.Duration) bool {
	if timeout < 0 {
		timeout = 0
	}
	ts := syscall.NsecToTimespec(int64(timeout))
	_, _, errno := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWaitOp,
		uintptr(expected), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return errno == syscall.ETIMEDOUT
}

// futexWakeAll wakes every thread sleeping on word, in any process.
func futexWakeAll(word *uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWakeOp,
		uintptr(math.MaxInt32), 0, 0, 0)
}

// schedYield gives the CPU to another runnable thread of any process.
func schedYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}

// recordLock is the lock of a byte range of the participant table: F_WRLCK,
// SEEK_SET, l_start = offset, l_len = length (128 for one record), l_pid = 0
// (required by OFD locks), exactly as the Rust crate's participants::locks.
func recordLock(offset, length uint64) syscall.Flock_t {
	return syscall.Flock_t{
		Type:   syscall.F_WRLCK,
		Whence: 0, // SEEK_SET
		Start:  int64(offset),
		Len:    int64(length),
		Pid:    0,
	}
}

func fcntlLock(fd int, cmd int, lock *syscall.Flock_t) syscall.Errno {
	for {
		_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(unsafe.Pointer(lock)))
		if errno != syscall.EINTR {
			return errno
		}
	}
}

// tryLockRecord takes the OFD write lock on a record's range through fd;
// false if another open file description holds it.
func tryLockRecord(fd int, offset uint64) (bool, error) {
	lock := recordLock(offset, participantRecordSize)
	switch errno := fcntlLock(fd, fOFDSetLk, &lock); errno {
	case 0:
		return true, nil
	case syscall.EAGAIN, syscall.EACCES:
		return false, nil
	default:
		return false, fmt.Errorf("shmlane: locking a participant record: %w", errno)
	}
}

// firstLocked returns the offset of the first byte locked by any open file
// description in [offset, offset+length), if any (F_OFD_GETLK).
func firstLocked(fd int, offset, length uint64) (uint64, bool, error) {
	lock := recordLock(offset, length)
	if errno := fcntlLock(fd, fOFDGetLk, &lock); errno != 0 {
		return 0, false, fmt.Errorf("shmlane: testing the participant table's locks: %w", errno)
	}
	if lock.Type == syscall.F_UNLCK {
		return 0, false, nil
	}
	start := uint64(max(lock.Start, 0))
	return max(start, offset), true, nil
}

// recordLocked reports whether any open file description holds a lock on the
// record at offset. An error counts as held: calling a live peer dead is the
// worse mistake.
func recordLocked(fd int, offset uint64) bool {
	lock := recordLock(offset, participantRecordSize)
	if errno := fcntlLock(fd, fOFDGetLk, &lock); errno != 0 {
		return true
	}
	return lock.Type != syscall.F_UNLCK
}

// reopen opens a new open file description of the file behind fd (through
// /proc/self/fd), so that its OFD locks are its own.
func reopen(fd int) (int, error) {
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	newFd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		if err == syscall.EACCES || err == syscall.EPERM {
			return -1, fmt.Errorf("%w: the ring file cannot be opened read-write: %v", ErrPermission, err)
		}
		return -1, fmt.Errorf("shmlane: opening a second description of the ring file (needs /proc): %w", err)
	}
	return newFd, nil
}
