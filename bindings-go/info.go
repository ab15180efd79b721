package shmlane

import (
	"encoding/binary"
	"sync/atomic"
	"syscall"
	"time"
)

// RingInfo is a snapshot of a ring: geometry, positions and participants.
type RingInfo struct {
	Path         string
	Geometry     Geometry
	VersionMajor uint16
	VersionMinor uint16
	Head         uint64 // next position the consumer(s) will read
	Tail         uint64 // next position the producer(s) will write
	CreatorPid   uint32
	CreatedNs    uint64 // ns since the Unix epoch
	Participants []ParticipantInfo
	DataWaits    WaitInfo // line 0: consumers sleep, producers wake
	SpaceWaits   WaitInfo // line 1: producers sleep, consumers wake
	// DroppedClaims (MPMC): positions claimed by producers that died before
	// committing them, turned into skipped slots by crash recovery (0 for SPSC).
	DroppedClaims uint64
	// LostMessages (MPMC): committed messages whose consumer died after
	// claiming them, released unread by crash recovery (0 for SPSC).
	LostMessages uint64
}

// Len is the number of messages published and not yet released, bounded by
// the capacity even if shared memory holds impossible positions.
func (i *RingInfo) Len() uint64 { return min(i.Tail-i.Head, i.Geometry.Capacity) }

// WaitInfo is what a wait line says.
type WaitInfo struct {
	Waiters  uint32 // handles announced as waiting now
	Sleepers uint32 // handles registered as sleepers
	Sleeps   uint64 // FUTEX_WAIT calls made
	Wakes    uint64 // FUTEX_WAKE calls made
}

// ParticipantState is the state of a participant record, liveness decided by its lock.
type ParticipantState uint8

const (
	ParticipantFree   ParticipantState = iota // never claimed
	ParticipantAlive                          // claimed, and its owner holds the lock
	ParticipantDead                           // claimed, but nobody holds the lock: the owner died
	ParticipantClosed                         // the owner closed its handle
)

func (s ParticipantState) String() string {
	return [...]string{"free", "alive", "dead", "closed"}[s]
}

// ParticipantInfo is one participant record.
type ParticipantInfo struct {
	Index      uint32
	Role       string // "producer", "consumer", or "" if never claimed
	State      ParticipantState
	Pid        uint32 // pid of the last owner (informational: pids are reused)
	Generation uint32 // how many times the record was claimed
	JoinedNs   uint64
}

// Info reads the state of the ring /dev/shm/<name> without joining it.
func Info(name string) (RingInfo, error) {
	path, err := PathFor(name)
	if err != nil {
		return RingInfo{}, err
	}
	return InfoAt(path)
}

// InfoAt reads the state of the ring at path without joining it: the file is
// opened and mapped read-only, validated as Open does, and unmapped again.
func InfoAt(path string) (RingInfo, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|openFlags, 0)
	if err != nil {
		return RingInfo{}, openError(path, err)
	}
	cfg := openConfig{readyTimeout: 2 * time.Second}
	data, geo, err := openValidated(fd, path, &cfg, false)
	if err != nil {
		syscall.Close(fd)
		return RingInfo{}, err
	}
	r := newRing(path, fd, data, geo)
	defer r.release()
	return r.snapshot(), nil
}

// Info reads the ring's state, as the package's Info does.
func (r *Ring) Info() (RingInfo, error) {
	if r.closed.Load() || !r.acquire() {
		return RingInfo{}, ErrClosed
	}
	defer r.release()
	return r.snapshot(), nil
}

func (r *Ring) snapshot() RingInfo {
	g := r.geo
	le := binary.LittleEndian
	info := RingInfo{
		Path:         r.path,
		Geometry:     g,
		VersionMajor: le.Uint16(r.data[hdrVersionMajor:]),
		VersionMinor: le.Uint16(r.data[hdrVersionMinor:]),
		// Snapshots: a recent value of each is enough (loads work on a
		// read-only mapping).
		Head:       atomic.LoadUint64(r.u64At(headOffset)),
		Tail:       atomic.LoadUint64(r.u64At(tailOffset)),
		CreatorPid: le.Uint32(r.data[hdrCreatorPid:]),
		CreatedNs:  le.Uint64(r.data[hdrCreationTimeNs:]),
		DataWaits:  r.waitInfo(dataWaitLineOffset),
		SpaceWaits: r.waitInfo(spaceWaitLineOffset),
		// Counters, read as a snapshot (Rust: Relaxed loads).
		DroppedClaims: atomic.LoadUint64(r.u64At(droppedClaimsOffset)),
		LostMessages:  atomic.LoadUint64(r.u64At(lostMessagesOffset)),
	}
	info.Participants = make([]ParticipantInfo, 0, g.ParticipantCount)
	for index := uint32(0); index < g.ParticipantCount; index++ {
		record := g.recordOffset(index)
		// Ordering: acquire, pairs with the claim's exchange, which published
		// the pid and join time read below.
		word := atomic.LoadUint64(r.u64At(record + recOwner))
		generation, role, state := ownerParts(word)
		// Pid and join time: published by the owner word's exchange, read above.
		p := ParticipantInfo{
			Index:      index,
			Pid:        atomic.LoadUint32(r.u32At(record + recPid)),
			Generation: generation,
			JoinedNs:   atomic.LoadUint64(r.u64At(record + recJoinedNs)),
		}
		switch role {
		case roleProducer:
			p.Role = "producer"
		case roleConsumer:
			p.Role = "consumer"
		}
		switch state {
		case stateFree:
			p.State = ParticipantFree
		case stateActive:
			p.State = ParticipantAlive
			if !recordLocked(r.fd, record) {
				p.State = ParticipantDead
			}
		default:
			p.State = ParticipantClosed
		}
		info.Participants = append(info.Participants, p)
	}
	return info
}

func (r *Ring) waitInfo(line uint64) WaitInfo {
	// Counters, read as a snapshot (Rust: Relaxed loads).
	return WaitInfo{
		Waiters:  atomic.LoadUint32(r.u32At(line + waitWaiters)),
		Sleepers: atomic.LoadUint32(r.u32At(line + waitSleepers)),
		Sleeps:   atomic.LoadUint64(r.u64At(line + waitSleeps)),
		Wakes:    atomic.LoadUint64(r.u64At(line + waitWakes)),
	}
}
