package shmlane

// Participant records and liveness, as docs/layout.md#participants specifies:
// a record is claimed under an open-file-description lock on its range, then
// by a compare-and-swap of its owner word, and the lock, never the pid,
// decides whether its owner is alive.

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// membership is a claimed participant record.
type membership struct {
	record    uint32
	ownerWord uint64
	lockFd    int // the description whose OFD lock proves us alive; -1 once left
}

// claimRecord claims record index for role: lock first, then the owner word.
func claimRecord(r *Ring, index uint32, role uint64) (membership, error) {
	lockFd, err := reopen(r.fd)
	if err != nil {
		return membership{}, err
	}
	locked, err := tryLockRecord(lockFd, r.geo.recordOffset(index))
	if err != nil || !locked {
		syscall.Close(lockFd)
		if err != nil {
			return membership{}, err
		}
		return membership{}, fmt.Errorf("%w: a live %s is already attached to this ring", ErrRoleTaken, roleName(role))
	}
	word, err := claimOwnerWord(r, index, role)
	if err != nil {
		syscall.Close(lockFd)
		return membership{}, err
	}
	return membership{record: index, ownerWord: word, lockFd: lockFd}, nil
}

// claimAnyRecord claims the first record no live handle holds (MPMC).
func claimAnyRecord(r *Ring, role uint64) (membership, error) {
	lockFd, err := reopen(r.fd)
	if err != nil {
		return membership{}, err
	}
	for index := uint32(0); index < r.geo.ParticipantCount; index++ {
		locked, err := tryLockRecord(lockFd, r.geo.recordOffset(index))
		if err != nil {
			syscall.Close(lockFd)
			return membership{}, err
		}
		if locked {
			word, err := claimOwnerWord(r, index, role)
			if err != nil {
				syscall.Close(lockFd)
				return membership{}, err
			}
			return membership{record: index, ownerWord: word, lockFd: lockFd}, nil
		}
	}
	syscall.Close(lockFd)
	return membership{}, fmt.Errorf("%w: all %d participant records of the ring are held by live handles",
		ErrTooManyParticipants, r.geo.ParticipantCount)
}

func roleName(role uint64) string {
	if role == roleProducer {
		return "producer"
	}
	return "consumer"
}

func claimOwnerWord(r *Ring, index uint32, role uint64) (uint64, error) {
	record := r.geo.recordOffset(index)
	owner := r.u64At(record + recOwner)
	// Ordering: acquire, pairs with the release of the previous owner's leave
	// (or claim), so its position stores are visible before we take over.
	previous := atomic.LoadUint64(owner)
	generation, previousRole, previousState := ownerParts(previous)
	if previousState == stateActive {
		// We hold the lock of a record still marked active: its owner died,
		// perhaps asleep. Undo what it held on its wait line.
		forgetDeadOwner(r, record, previousRole)
	}
	claimed := ownerWord(generation+1, role, stateActive)
	// Ordering: published by the exchange below (Rust: Relaxed stores).
	atomic.StoreUint32(r.u32At(record+recPid), uint32(os.Getpid()))
	atomic.StoreUint64(r.u64At(record+recJoinedNs), uint64(time.Now().UnixNano()))
	// A new owner has acknowledged no wait-line epoch yet.
	atomic.StoreUint64(r.u64At(record+recWakeAck), 0)
	// Nor claimed anything: a dead previous owner's claim range must not
	// outlive it, since we are alive and would seem to hold it (recovery.go).
	atomic.StoreUint64(r.u64At(record+recClaimEnd), 0)
	// Ordering: AcqRel in Rust; sequentially consistent here. Publishes pid and
	// join time to readers that acquire the owner word (Info).
	if !atomic.CompareAndSwapUint64(owner, previous, claimed) {
		found := atomic.LoadUint64(owner)
		return 0, corruptf("participant record %d changed from %#x to %#x while its lock was held", index, previous, found)
	}
	return claimed, nil
}

// leave marks the record closed, then releases its lock. Everything published
// before is visible to a peer that sees the record closed.
func (m *membership) leave(r *Ring) {
	if m.lockFd < 0 {
		return
	}
	generation, role, _ := ownerParts(m.ownerWord)
	// Ordering: release (Rust: Release), pairs with the acquire load of the
	// owner word in peerWatch.check. A failed exchange means a peer rewrote our
	// record; there is nothing of ours left to mark.
	atomic.CompareAndSwapUint64(r.u64At(r.geo.recordOffset(m.record)+recOwner), m.ownerWord,
		ownerWord(generation, role, stateClosed))
	syscall.Close(m.lockFd)
	m.lockFd = -1
}

// countJoin counts a join of role in the ring, after the record was claimed.
func countJoin(r *Ring, role uint64) {
	offset := uint64(producerJoinsOffset)
	if role == roleConsumer {
		offset = consumerJoinsOffset
	}
	// Ordering: AcqRel in Rust, pairs with the acquire load in roleWatch.check.
	atomic.AddUint64(r.u64At(offset), 1)
}

// peerState is how a handle sees the participants it depends on.
type peerState uint8

const (
	peerNotYetJoined peerState = iota // nobody ever claimed the record: the peer may still come
	peerPresent                       // alive as far as the last check knows
	peerGone                          // closed or died
)

const (
	// pollsPerClockRead: every this many polls a watch reads the clock ...
	pollsPerClockRead = 16
	// lockCheckInterval: ... and tests locks at most this often.
	lockCheckInterval = time.Millisecond
)

// peerWatch watches the record of the one peer an SPSC handle depends on.
// Checking the owner word is one atomic load; testing the lock is a system
// call, so it is rate-limited: a dead peer is noticed within 16 polls and 1 ms.
type peerWatch struct {
	record     uint32
	polls      uint32
	tested     bool
	lastTest   time.Time
	testedWord uint64
	lockHeld   bool
}

func newPeerWatch(record uint32) peerWatch {
	return peerWatch{record: record, lockHeld: true}
}

func (w *peerWatch) check(r *Ring) peerState {
	record := r.geo.recordOffset(w.record)
	// Ordering: acquire, pairs with the release in leave and in the claim:
	// after "closed", the peer's last positions are visible.
	word := atomic.LoadUint64(r.u64At(record + recOwner))
	if _, _, state := ownerParts(word); state == stateFree {
		return peerNotYetJoined
	}
	// Active or closed, the lock decides.
	w.polls++
	due := !w.tested || word != w.testedWord
	if !due && w.polls%pollsPerClockRead == 0 {
		due = time.Since(w.lastTest) >= lockCheckInterval
	}
	if due {
		w.tested = true
		w.lastTest = time.Now()
		w.testedWord = word
		w.lockHeld = recordLocked(r.fd, record)
		if _, _, state := ownerParts(word); w.lockHeld && state == stateClosed {
			// Closed yet locked is an instant, not a state (a leaver between
			// its closing store and its unlock, or a newcomer between its lock
			// and its claim). The word will not change again when the lock
			// goes, so test the lock afresh next time: the leaver's wake-up
			// must find it gone.
			w.tested = false
		}
	}
	if w.lockHeld {
		return peerPresent
	}
	return peerGone
}

// ownerIsAlive reports whether the owner of record index, whose owner word
// was word, is alive: the word says active and the record's lock is held.
// Anything else is a closed record or a dead owner. An error testing the lock
// counts as alive (recordLocked).
func ownerIsAlive(r *Ring, index uint32, word uint64) bool {
	_, _, state := ownerParts(word)
	return state == stateActive && recordLocked(r.fd, r.geo.recordOffset(index))
}

// roleWatch watches every record for live participants of one role (MPMC),
// and the ring's count of that role's joins, so "never joined" is not "all gone".
type roleWatch struct {
	role        uint64
	joinsOffset uint64
	polls       uint32
	scanned     bool
	lastScan    time.Time
	joinsAtScan uint64
	present     bool
}

func newRoleWatch(role uint64) roleWatch {
	offset := uint64(producerJoinsOffset)
	if role == roleConsumer {
		offset = consumerJoinsOffset
	}
	return roleWatch{role: role, joinsOffset: offset, present: true}
}

func (w *roleWatch) check(r *Ring) peerState {
	// Ordering: acquire, pairs with the increment in countJoin.
	joins := atomic.LoadUint64(r.u64At(w.joinsOffset))
	if joins == 0 {
		return peerNotYetJoined
	}
	w.polls++
	due := !w.scanned || joins != w.joinsAtScan
	if !due && w.polls%pollsPerClockRead == 0 {
		due = time.Since(w.lastScan) >= lockCheckInterval
	}
	if due {
		w.scanned = true
		w.lastScan = time.Now()
		w.joinsAtScan = joins
		w.present = w.scan(r)
	}
	if w.present {
		return peerPresent
	}
	return peerGone
}

func (w *roleWatch) scan(r *Ring) bool {
	for index := uint32(0); index < r.geo.ParticipantCount; index++ {
		record := r.geo.recordOffset(index)
		// Ordering: acquire, as in peerWatch.check.
		word := atomic.LoadUint64(r.u64At(record + recOwner))
		_, role, state := ownerParts(word)
		if role == w.role && state == stateActive && recordLocked(r.fd, record) {
			return true
		}
	}
	// No peer is active; one may be joining right now, locked but not yet
	// claimed. Counting it as present avoids a false Disconnected.
	return anyRecordInTransition(r)
}

// anyRecordInTransition reports whether some record is locked while its owner
// word is not active: a handle between its lock and its claim, or between
// marking its record closed and unlocking it.
func anyRecordInTransition(r *Ring) bool {
	first := r.geo.recordOffset(0)
	end := r.geo.recordOffset(r.geo.ParticipantCount)
	for from := first; from < end; {
		locked, found, err := firstLocked(r.fd, from, end-from)
		if err != nil || !found || locked < first {
			return false
		}
		index := (locked - first) / participantRecordSize
		if index >= uint64(r.geo.ParticipantCount) {
			return false
		}
		record := r.geo.recordOffset(uint32(index))
		// Ordering: acquire, as in peerWatch.check.
		word := atomic.LoadUint64(r.u64At(record + recOwner))
		if _, _, state := ownerParts(word); state != stateActive {
			return true
		}
		from = record + participantRecordSize
	}
	return false
}
