package shmlane

// MPMC crash recovery, as docs/layout.md#mpmc-crash-recovery specifies: each
// claim is announced in the owner's record first (claimIntent), and a handle
// that finds the ring stalled at a dead owner's slot moves it on (cleaner).
// Owners pay two stores to their own record per claim; cleaning runs only on
// the full and empty paths, for a position stalled for stallGrace.

import (
	"math"
	"sync/atomic"
	"time"
)

const (
	// stallGrace is how long a position must stay stalled before a handle
	// looks for its owner's death; shorter stalls are owners at work.
	stallGrace = lockCheckInterval
	// sightingsPerClockRead is how many sightings of one stalled position
	// pass between two looks at the clock.
	sightingsPerClockRead = 16
	// deadOwnersRemembered is how many dead owners a cleaner remembers, so
	// that the slots of a dead owner's batch cost no lock test each.
	deadOwnersRemembered = 4
)

// claimIntent is the owner's side: the claim range in its own participant record.
type claimIntent struct {
	start *uint64 // claim_start of our record
	end   *uint64 // claim_end of our record
	// unsettled: a range was announced and not yet settled by a claim or cleared.
	unsettled bool
}

// newClaimIntent is the intent of record, which the claim of the record
// emptied (claimOwnerWord).
func newClaimIntent(r *Ring, record uint32) claimIntent {
	offset := r.geo.recordOffset(record)
	return claimIntent{start: r.u64At(offset + recClaimStart), end: r.u64At(offset + recClaimEnd)}
}

// announce announces a claim of start .. end, just before the exchange that
// makes it.
func (i *claimIntent) announce(start, end uint64) {
	// Ordering: release, pairs with the acquire loads in cleaner.ownerAlive
	// (Go) and Cleaner::owner_alive (Rust): a cleaner that sees the new range
	// also sees what this handle did with its previous claim (its stamp
	// stores), so it never takes a slot we finished for one still stalled.
	// The exchange after these stores publishes them to whoever sees the
	// position moved (docs/layout.md, "Announcing").
	storeRelease64(i.start, start)
	storeRelease64(i.end, end)
	i.unsettled = true
}

// settled: the exchange claimed the announced range, which now says exactly
// what is held until the next announcement.
func (i *claimIntent) settled() { i.unsettled = false }

// clear announces nothing after a claim call gave up without a claim, so that
// a position another handle won is not taken for ours.
func (i *claimIntent) clear() {
	if i.unsettled {
		i.clearNow()
		i.unsettled = false
	}
}

func (i *claimIntent) clearNow() {
	// Ordering: release, as in announce. An end of 0 is no range.
	storeRelease64(i.end, 0)
}

// deadOwner is a record found dead, with the owner word it was found dead under.
type deadOwner struct {
	record uint32
	word   uint64
}

// cleaner is the cleaning side, kept by every MPMC handle and used on the
// full/empty path: consumers clean up after producers, producers after consumers.
type cleaner struct {
	ownerRole uint64 // the role of the owners this handle cleans up after
	watch     stallWatch
	dead      [deadOwnersRemembered]deadOwner
	deadNext  int
}

func newCleaner(ownerRole uint64) cleaner {
	c := cleaner{ownerRole: ownerRole, watch: stallWatch{position: math.MaxUint64}}
	for i := range c.dead {
		c.dead[i].record = math.MaxUint32
	}
	return c
}

// lookNow makes the next sighting of a stall look for a dead owner at once,
// whatever the grace period (after a sleep, or once every producer is gone).
func (c *cleaner) lookNow() { c.watch.force = true }

// onStall is called when position is found stalled with stamp in its slot
// (the caller checked the stamp's shape: position itself when cleaning after
// producers, committed when cleaning after consumers). claimedPast is the
// position word of the stalled role: tail after producers, head after
// consumers. It reports whether the slot was moved on, by us or by another
// cleaner: the caller should look again.
func (c *cleaner) onStall(r *Ring, slotStamp *uint64, position, stamp uint64, claimedPast *uint64, capacity uint64) bool {
	if !c.watch.due(position) {
		return false
	}
	return c.clean(r, slotStamp, position, stamp, claimedPast, capacity)
}

//go:noinline
func (c *cleaner) clean(r *Ring, slotStamp *uint64, position, stamp uint64, claimedPast *uint64, capacity uint64) bool {
	// Ordering: acquire, pairs with the exchange that claimed position (and
	// the exchanges after it, its release sequence): if the word is past
	// position, the claimer's intent is visible below.
	claimed := atomic.LoadUint64(claimedPast)
	if int64(claimed-position) <= 0 {
		// Nobody claimed it: an ordinary empty (or full) ring.
		c.watch.nothingToClean()
		return false
	}
	if c.ownerAlive(r, position) {
		c.watch.nothingToClean()
		return false
	}
	var movedOn, counter uint64
	if c.ownerRole == roleProducer {
		movedOn, counter = (position+1)|stampSkip, droppedClaimsOffset
	} else {
		movedOn = position + capacity
		if stamp&stampSkip == 0 {
			counter = lostMessagesOffset
		}
	}
	// Ordering: AcqRel in Rust (sequentially consistent here). Release:
	// consumers (acquire on the stamp) see the skip mark; producers see the
	// released slot, which nobody reads any more since its owner is dead.
	// The exchange from exactly the stalled value fails if the owner
	// finished after all, or another cleaner won.
	if atomic.CompareAndSwapUint64(slotStamp, stamp, movedOn) && counter != 0 {
		// Ordering: Relaxed in Rust; a statistic.
		atomic.AddUint64(r.u64At(counter), 1)
	}
	// Whoever moved it, the next slot may belong to the same dead owner:
	// look at the next stall at once.
	c.watch.cleaned()
	return true
}

// ownerAlive reports whether some live participant of the owner role
// announces a claim covering position (it may be its owner), or the records
// cannot be read with confidence.
func (c *cleaner) ownerAlive(r *Ring, position uint64) bool {
	for index := uint32(0); index < r.geo.ParticipantCount; index++ {
		record := r.geo.recordOffset(index)
		owner := r.u64At(record + recOwner)
		// Ordering: acquire, pairs with the owner's claim exchange, which
		// published the emptied intent of a newcomer.
		word := atomic.LoadUint64(owner)
		_, role, state := ownerParts(word)
		if role != c.ownerRole || state == stateFree || state == stateClosed {
			// A closed owner left holding nothing: Close publishes or
			// releases what its handle held before it marks the record closed.
			continue
		}
		// Ordering: acquire, pairs with the release stores in
		// claimIntent.announce (see there).
		start := atomic.LoadUint64(r.u64At(record + recClaimStart))
		end := atomic.LoadUint64(r.u64At(record + recClaimEnd))
		if !(start <= position && position < end) {
			continue
		}
		if state != stateActive {
			return true // not a state the protocol writes: be careful
		}
		if c.knownDead(index, word) {
			continue
		}
		if ownerIsAlive(r, index, word) {
			return true
		}
		// Dead under word; a newcomer taking the record over changes it.
		// Ordering: acquire, as above.
		if atomic.LoadUint64(owner) != word {
			return true // taken over meanwhile: look again later
		}
		c.dead[c.deadNext] = deadOwner{record: index, word: word}
		c.deadNext = (c.deadNext + 1) % deadOwnersRemembered
	}
	return false
}

func (c *cleaner) knownDead(index uint32, word uint64) bool {
	for _, d := range c.dead {
		if d.record == index && d.word == word {
			return true
		}
	}
	return false
}

// stallWatch rate-limits cleaning: only a position that stays stalled for
// stallGrace is looked into, at most once per lockCheckInterval.
type stallWatch struct {
	position  uint64
	sightings uint32
	force     bool // look at the next sighting, whatever the grace period
	eager     bool // look at the next stall at once (a dead owner's next slot)
	firstSeen time.Time
	lastLook  time.Time
}

// due reports whether this sighting of a stall at position should look for
// a dead owner.
func (w *stallWatch) due(position uint64) bool {
	if position != w.position {
		w.position = position
		w.sightings = 0
		w.firstSeen = time.Time{}
		if w.eager {
			return true
		}
	}
	w.sightings++
	if !w.force && w.sightings%sightingsPerClockRead != 0 {
		return false
	}
	return w.dueNow()
}

//go:noinline
func (w *stallWatch) dueNow() bool {
	forced := w.force
	w.force = false
	now := time.Now()
	if w.firstSeen.IsZero() {
		w.firstSeen = now
	}
	stalledLong := forced || now.Sub(w.firstSeen) >= stallGrace
	rested := w.lastLook.IsZero() || now.Sub(w.lastLook) >= lockCheckInterval
	if stalledLong && (rested || forced) {
		w.lastLook = now
		return true
	}
	return false
}

func (w *stallWatch) nothingToClean() { w.eager = false }

func (w *stallWatch) cleaned() {
	w.eager = true
	w.position = math.MaxUint64
}
