package shmlane

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// goldenPath is the shared table of layout numbers, exported from the Rust crate.
const goldenPath = "../docs/layout-golden.tsv"

type fieldSpec struct{ offset, width uint64 }

var (
	u16w = uint64(unsafe.Sizeof(uint16(0)))
	u32w = uint64(unsafe.Sizeof(uint32(0)))
	u64w = uint64(unsafe.Sizeof(uint64(0)))
)

// goFields is every field of the layout as this package places and sizes it.
func goFields() map[string]fieldSpec {
	return map[string]fieldSpec{
		"header.magic":                   {hdrMagic, u64w},
		"header.version_major":           {hdrVersionMajor, u16w},
		"header.version_minor":           {hdrVersionMinor, u16w},
		"header.kind":                    {hdrKind, u32w},
		"header.line_size":               {hdrLineSize, u32w},
		"header.slot_header_size":        {hdrSlotHeaderSize, u32w},
		"header.capacity":                {hdrCapacity, u64w},
		"header.slot_size":               {hdrSlotSize, u64w},
		"header.max_payload":             {hdrMaxPayload, u64w},
		"header.producer_line_offset":    {hdrProducerLineOffset, u64w},
		"header.consumer_line_offset":    {hdrConsumerLineOffset, u64w},
		"header.wait_lines_offset":       {hdrWaitLinesOffset, u64w},
		"header.participants_offset":     {hdrParticipantsOffset, u64w},
		"header.participant_count":       {hdrParticipantCount, u32w},
		"header.participant_record_size": {hdrParticipantRecordSize, u32w},
		"header.slots_offset":            {hdrSlotsOffset, u64w},
		"header.total_size":              {hdrTotalSize, u64w},
		"header.flags":                   {hdrFlags, u32w},
		"header.layout_hash":             {hdrLayoutHash, u64w},
		"header.creator_pid":             {hdrCreatorPid, u32w},
		"header.ready":                   {hdrReady, u32w},
		"header.creation_time_ns":        {hdrCreationTimeNs, u64w},
		"producer_line.tail":             {tailOffset, u64w},
		"consumer_line.head":             {headOffset, u64w},
		"membership.producer_joins":      {producerJoinsOffset, u64w},
		"membership.consumer_joins":      {consumerJoinsOffset, u64w},
		"membership.dropped_claims":      {droppedClaimsOffset, u64w},
		"membership.lost_messages":       {lostMessagesOffset, u64w},
		"wait_line.futex":                {waitFutex, u32w},
		"wait_line.waiters":              {waitWaiters, u32w},
		"wait_line.sleeps":               {waitSleeps, u64w},
		"wait_line.wakes":                {waitWakes, u64w},
		"wait_line.sleepers":             {waitSleepers, u32w},
		"wait_line.epoch":                {waitEpoch, u64w},
		"participant.owner":              {recOwner, u64w},
		"participant.pid":                {recPid, u32w},
		"participant.subscription":       {recSubscription, u32w},
		"producer_line.gate":             {gateOffset, u64w},
		"participant.joined_ns":          {recJoinedNs, u64w},
		"participant.cursor":             {recCursor, u64w},
		"participant.messages":           {recMessages, u64w},
		"participant.bytes":              {recBytes, u64w},
		"participant.lost":               {recLost, u64w},
		"participant.claim_start":        {recClaimStart, u64w},
		"participant.wake_ack":           {recWakeAck, u64w},
		"participant.wait_state":         {recWaitState, u64w},
		"participant.claim_end":          {recClaimEnd, u64w},
		"spsc_slot.len":                  {0, u32w}, // lenWord: *uint32 at the body's start
		"spsc_slot.flags":                {4, u32w},
		"mpmc_slot.stamp":                {0, u64w}, // stamp: *uint64 at the slot's start
		"mpmc_slot.len":                  {mpmcSlotHeaderSize - slotLenFieldSize, u32w},
		"mpmc_slot.flags":                {mpmcSlotHeaderSize - slotLenFieldSize + 4, u32w},
	}
}

func goConsts() map[string]uint64 {
	return map[string]uint64{
		"MAGIC":                            Magic,
		"VERSION_MAJOR":                    uint64(VersionMajor),
		"VERSION_MINOR":                    uint64(VersionMinor),
		"READY":                            uint64(ReadyValue),
		"LINE_SIZE":                        LineSize,
		"HEADER_SIZE":                      HeaderSize,
		"PRODUCER_LINE_OFFSET":             producerLineOffset,
		"CONSUMER_LINE_OFFSET":             consumerLineOffset,
		"WAIT_LINES_OFFSET":                waitLinesOffset,
		"DATA_WAIT_LINE_OFFSET":            dataWaitLineOffset,
		"SPACE_WAIT_LINE_OFFSET":           spaceWaitLineOffset,
		"MEMBERSHIP_LINE_OFFSET":           membershipLineOffset,
		"PARTICIPANTS_OFFSET":              participantsOffset,
		"PARTICIPANT_RECORD_SIZE":          participantRecordSize,
		"HASHED_HEADER_BYTES":              HashedHeaderBytes,
		"FNV_OFFSET_BASIS":                 fnvOffsetBasis,
		"FNV_PRIME":                        fnvPrime,
		"FLAG_FIXED_SIZE":                  uint64(FlagFixedSize),
		"FLAG_OVERWRITE":                   uint64(flagOverwrite),
		"KNOWN_FLAGS":                      uint64(knownFlags),
		"KIND_SPSC":                        uint64(SPSC),
		"KIND_MPMC":                        uint64(MPMC),
		"KIND_BROADCAST":                   uint64(kindBroadcast),
		"BROADCAST_SLOT_HEADER_SIZE":       MPMC.slotHeaderSize(false),
		"BROADCAST_FIXED_SLOT_HEADER_SIZE": MPMC.slotHeaderSize(true),
		"STAMP_WRITING":                    stampWriting,
		"SUBSCRIPTION_TETHERED":            subscriptionTethered,
		"SUBSCRIPTION_UNTETHERED":          subscriptionUntethered,
		"SPSC_SLOT_HEADER_SIZE":            SPSC.slotHeaderSize(false),
		"SPSC_FIXED_SLOT_HEADER_SIZE":      SPSC.slotHeaderSize(true),
		"MPMC_SLOT_HEADER_SIZE":            MPMC.slotHeaderSize(false),
		"MPMC_FIXED_SLOT_HEADER_SIZE":      MPMC.slotHeaderSize(true),
		"MIN_CAPACITY":                     MinCapacity,
		"MAX_CAPACITY":                     MaxCapacity,
		"MIN_MAX_PAYLOAD":                  MinMaxPayload,
		"MAX_SLOT_SIZE":                    MaxSlotSize,
		"MAX_TOTAL_SIZE":                   MaxTotalSize,
		"MAX_PARTICIPANTS":                 uint64(MaxParticipants),
		"SPSC_PARTICIPANTS":                uint64(SPSCOptions(2, 16).Participants),
		"STAMP_SKIP":                       stampSkip,
		"STATE_FREE":                       stateFree,
		"STATE_ACTIVE":                     stateActive,
		"STATE_CLOSED":                     stateClosed,
		"ROLE_PRODUCER":                    roleProducer,
		"ROLE_CONSUMER":                    roleConsumer,
		"WAIT_STATE_REGISTERED":            waitStateRegistered,
		"WAIT_STATE_WAITING":               waitStateWaiting,
	}
}

func TestLayoutMatchesGoldenFile(t *testing.T) {
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatalf("the golden layout table: %v", err)
	}
	defer f.Close()
	fields, consts := goFields(), goConsts()
	seenFields, seenConsts := map[string]bool{}, map[string]bool{}
	// A header made by this package, to check each header field's bytes too.
	g, err := newGeometry(MPMC, 1024, 80, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	header := g.headerBytes(4242, 123456789)
	headerValues := map[string]uint64{
		"header.magic": Magic, "header.version_major": uint64(VersionMajor), "header.version_minor": uint64(VersionMinor), "header.kind": 2,
		"header.line_size": 128, "header.slot_header_size": 16, "header.capacity": 1024, "header.slot_size": 80,
		"header.max_payload": 64, "header.producer_line_offset": 256, "header.consumer_line_offset": 384,
		"header.wait_lines_offset": 512, "header.participants_offset": 896, "header.participant_count": 7,
		"header.participant_record_size": 128, "header.slots_offset": 896 + 7*128,
		"header.total_size": 896 + 7*128 + 1024*80, "header.flags": 0,
		"header.layout_hash": layoutHash(&header), "header.creator_pid": 4242, "header.ready": 0,
		"header.creation_time_ns": 123456789,
	}
	rows := 0
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		text := scanner.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		rows++
		switch {
		case cols[0] == "field" && len(cols) == 4:
			offset, err1 := strconv.ParseUint(cols[2], 10, 64)
			width, err2 := strconv.ParseUint(cols[3], 10, 64)
			if err1 != nil || err2 != nil {
				t.Errorf("line %d: bad numbers in %q", line, text)
				continue
			}
			want := fieldSpec{offset, width}
			got, ok := fields[cols[1]]
			if !ok {
				t.Errorf("line %d: field %s is unknown to the Go package", line, cols[1])
				continue
			}
			seenFields[cols[1]] = true
			if got != want {
				t.Errorf("field %s: Go has offset %d width %d, golden %d %d", cols[1], got.offset, got.width, offset, width)
			}
			if value, ok := headerValues[cols[1]]; ok {
				var found uint64
				switch width {
				case 2:
					found = uint64(binary.LittleEndian.Uint16(header[offset:]))
				case 4:
					found = uint64(binary.LittleEndian.Uint32(header[offset:]))
				case 8:
					found = binary.LittleEndian.Uint64(header[offset:])
				default:
					t.Errorf("field %s: unexpected width %d", cols[1], width)
				}
				if found != value {
					t.Errorf("field %s: Go's header holds %d at the golden offset, want %d", cols[1], found, value)
				}
			}
		case cols[0] == "const" && len(cols) == 3:
			value, err := strconv.ParseUint(cols[2], 10, 64)
			if err != nil {
				t.Errorf("line %d: bad number in %q", line, text)
				continue
			}
			got, ok := consts[cols[1]]
			if !ok {
				t.Errorf("line %d: constant %s is unknown to the Go package", line, cols[1])
				continue
			}
			seenConsts[cols[1]] = true
			if got != value {
				t.Errorf("constant %s: Go has %d, golden %d", cols[1], got, value)
			}
		default:
			t.Errorf("line %d: row not understood: %q", line, text)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 80 {
		t.Errorf("only %d rows in the golden table", rows)
	}
	for name := range fields {
		if !seenFields[name] {
			t.Errorf("field %s of the Go package is not in the golden table", name)
		}
	}
	for name := range consts {
		if !seenConsts[name] {
			t.Errorf("constant %s of the Go package is not in the golden table", name)
		}
	}
}

// The worked example at the end of docs/layout.md.
func TestLayoutExampleOfDocs(t *testing.T) {
	g, err := newGeometry(SPSC, 1024, 64, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxPayload != 56 || g.SlotsOffset != 1152 || g.TotalSize != 66688 {
		t.Fatalf("geometry %+v", g)
	}
	if off := g.slotOffset(1500); off != 31616 || off+g.bodyOffsetInSlot()+slotLenFieldSize != 31624 {
		t.Fatalf("slot offset %d", off)
	}
	fixed, err := newGeometry(SPSC, 1024, 8, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if fixed.SlotHeaderSize != 0 || fixed.MaxPayload != 8 || fixed.TotalSize != 9344 || fixed.slotOffset(1500) != 4960 {
		t.Fatalf("fixed geometry %+v", fixed)
	}
	if string(binary.LittleEndian.AppendUint64(nil, Magic)) != "SHMLANE\x00" ||
		string(binary.LittleEndian.AppendUint32(nil, ReadyValue)) != "REDY" {
		t.Fatal("magic or ready word")
	}
}

func TestHeaderRoundTripsAndEveryChangeIsCaught(t *testing.T) {
	g, err := newGeometry(SPSC, 16, 64, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	header := g.headerBytes(1, 2)
	back, err := geometryFromHeader(&header, g.TotalSize)
	if err != nil || back != g {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := geometryFromHeader(&header, g.TotalSize-1); !errors.Is(err, ErrFileTooSmall) {
		t.Fatalf("short file: %v", err)
	}
	// Changing any hashed byte is caught, one way or another.
	for offset := 0; offset < HashedHeaderBytes; offset++ {
		changed := header
		changed[offset] ^= 0x10
		if _, err := geometryFromHeader(&changed, 1<<30); err == nil {
			t.Errorf("a change at byte %d went unnoticed", offset)
		}
	}
	bad := header
	binary.LittleEndian.PutUint16(bad[hdrVersionMajor:], VersionMajor+1)
	binary.LittleEndian.PutUint64(bad[hdrLayoutHash:], layoutHash(&bad))
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrVersion) {
		t.Errorf("major version %d: %v", VersionMajor+1, err)
	}
	// Layout 1 handles do not announce their MPMC claims: refused too.
	bad = header
	binary.LittleEndian.PutUint16(bad[hdrVersionMajor:], 1)
	binary.LittleEndian.PutUint64(bad[hdrLayoutHash:], layoutHash(&bad))
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrVersion) {
		t.Errorf("major version 1: %v", err)
	}
	// A broadcast ring (layout 2.1) is refused by its kind, clearly.
	bad = header
	binary.LittleEndian.PutUint32(bad[hdrKind:], uint32(kindBroadcast))
	binary.LittleEndian.PutUint64(bad[hdrLayoutHash:], layoutHash(&bad))
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrWrongKind) ||
		!strings.Contains(err.Error(), "broadcast") {
		t.Errorf("broadcast kind: %v", err)
	}
	bad = header
	binary.LittleEndian.PutUint32(bad[hdrFlags:], 4)
	binary.LittleEndian.PutUint64(bad[hdrLayoutHash:], layoutHash(&bad))
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "header field flags") {
		t.Errorf("unknown flag: %v", err)
	}
	bad = header
	binary.LittleEndian.PutUint64(bad[hdrSlotsOffset:], 4096)
	binary.LittleEndian.PutUint64(bad[hdrLayoutHash:], layoutHash(&bad))
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrCorrupt) {
		t.Errorf("moved slots: %v", err)
	}
	bad = header
	bad[0] = 'X'
	if _, err := geometryFromHeader(&bad, 1<<30); !errors.Is(err, ErrNotRing) {
		t.Errorf("magic: %v", err)
	}
}

func TestBadGeometriesAreRefused(t *testing.T) {
	cases := []struct {
		kind         Kind
		capacity     uint64
		slot         uint64
		participants uint32
		fixed        bool
	}{
		{SPSC, 0, 64, 2, false}, {SPSC, 1, 64, 2, false}, {SPSC, 3, 64, 2, false},
		{SPSC, 1 << 33, 64, 2, false}, {SPSC, 8, 8, 2, false}, {SPSC, 8, 15, 2, false},
		{SPSC, 8, 20, 2, false}, {SPSC, 1 << 32, 1 << 31, 2, false}, {SPSC, 8, 64, 3, false},
		{MPMC, 8, 64, 1, false}, {MPMC, 8, 64, 1025, false}, {MPMC, 8, 16, 4, false},
		{MPMC, 8, 8, 4, true}, {Kind(3), 8, 64, 2, false},
	}
	for _, c := range cases {
		if _, err := newGeometry(c.kind, c.capacity, c.slot, c.participants, c.fixed); !errors.Is(err, ErrBadGeometry) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := newGeometry(MPMC, 8, 16, 4, true); err != nil {
		t.Errorf("MPMC fixed 8-byte messages: %v", err)
	}
}
