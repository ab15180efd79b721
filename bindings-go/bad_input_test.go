package shmlane

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNamesAreChecked(t *testing.T) {
	for _, good := range []string{"a", "sensor_1.v2-x", strings.Repeat("x", 200)} {
		if _, err := PathFor(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", "a b", "é", strings.Repeat("x", 201)} {
		if _, err := PathFor(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v", bad, err)
		}
		if _, err := Create(bad, SPSCOptions(2, 16)); !errors.Is(err, ErrBadName) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
}

func TestANameWithASlashIsRefusedForItsSlashAndPointsToPaths(t *testing.T) {
	for _, name := range []string{"../etc/passwd", "a/b", "/dev/shm/x"} {
		_, err := Open(name)
		if !errors.Is(err, ErrBadName) {
			t.Fatalf("%q: %v", name, err)
		}
		want := "it may not contain '/'; to give a path, use CreateAt, OpenAt, InfoAt or RemoveAt"
		if !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%q: %q does not end with %q", name, err, want)
		}
	}
}

func TestEachBadInputHasItsOwnError(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }

	if _, err := OpenAt(at("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Open("go-test-surely-missing-ring"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing name: %v", err)
	}
	r, err := CreateAt(at("ring"), SPSCOptions(4, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := CreateAt(at("ring"), SPSCOptions(4, 16)); !errors.Is(err, ErrExists) {
		t.Errorf("exists: %v", err)
	}
	if _, err := OpenAt(at("ring"), ExpectKind(MPMC)); !errors.Is(err, ErrWrongKind) {
		t.Errorf("wrong kind: %v", err)
	}
	if err := os.Symlink(at("ring"), at("link")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAt(at("link")); !errors.Is(err, ErrSymlink) {
		t.Errorf("symlink: %v", err)
	}
	os.WriteFile(at("text"), []byte(strings.Repeat("not a ring at all ", 40)), 0o600)
	if _, err := OpenAt(at("text")); !errors.Is(err, ErrNotRing) {
		t.Errorf("text file: %v", err)
	}
	if err := RemoveAt(at("text")); !errors.Is(err, ErrNotRing) {
		t.Errorf("remove of a text file: %v", err)
	}
	os.WriteFile(at("short"), []byte("SHMLANE"), 0o600)
	if _, err := OpenAt(at("short")); !errors.Is(err, ErrNotRing) {
		t.Errorf("short file: %v", err)
	}
	os.WriteFile(at("zeros"), make([]byte, 4096), 0o600)
	if _, err := OpenAt(at("zeros"), ReadyTimeout(20*time.Millisecond)); !errors.Is(err, ErrNotReady) ||
		!strings.Contains(err.Error(), "shmlane.ReadyTimeout") {
		t.Errorf("never ready: %v", err)
	}
	if _, err := OpenAt(dir); !errors.Is(err, ErrNotRing) {
		t.Errorf("directory: %v", err)
	}
	if _, err := CreateAt(at("bad-geometry"), SPSCOptions(3, 16)); !errors.Is(err, ErrBadGeometry) {
		t.Errorf("bad geometry: %v", err)
	}
	if _, err := CreateAt(at("bad-mode"), SPSCOptions(4, 16).WithMode(0o400)); !errors.Is(err, ErrPermission) ||
		!strings.Contains(err.Error(), "WithMode") {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := os.Stat(at("bad-mode")); !os.IsNotExist(err) {
		t.Errorf("a failed create left its file: %v", err)
	}
	shared, err := CreateAt(at("shared"), SPSCOptions(4, 16).WithMode(0o666))
	if err != nil {
		t.Fatal(err)
	}
	shared.Close()
	if _, err := OpenAt(at("shared")); !errors.Is(err, ErrPermission) ||
		!strings.Contains(err.Error(), "shmlane.AllowSharedMode()") {
		t.Errorf("group-writable ring: %v", err)
	}
	if again, err := OpenAt(at("shared"), AllowSharedMode()); err != nil {
		t.Errorf("opted in: %v", err)
	} else {
		again.Close()
	}
	// A truncated ring file.
	small, _ := CreateAt(at("small"), SPSCOptions(64, 64))
	small.Close()
	os.Truncate(at("small"), 2048)
	if _, err := OpenAt(at("small")); !errors.Is(err, ErrFileTooSmall) {
		t.Errorf("truncated: %v", err)
	}
	if err := RemoveAt(at("small")); err != nil {
		t.Errorf("remove of a ring: %v", err)
	}
	if err := RemoveAt(at("small")); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
}

func TestInfoReadsWithoutJoining(t *testing.T) {
	r := testRing(t, MPMCOptions(16, 64, 4))
	p := mustProducer(t, r)
	p.TrySend([]byte("x"))
	info, err := InfoAt(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	if info.Geometry.Capacity != 16 || info.Len() != 1 || len(info.Participants) != 4 {
		t.Fatalf("info %+v", info)
	}
	if pi := info.Participants[0]; pi.Role != "producer" || pi.State != ParticipantAlive || pi.Pid != uint32(os.Getpid()) {
		t.Fatalf("participant %+v", pi)
	}
	if info.Participants[1].State != ParticipantFree {
		t.Fatalf("participant %+v", info.Participants[1])
	}
	if info.VersionMajor != VersionMajor || info.CreatorPid != uint32(os.Getpid()) {
		t.Fatalf("header %+v", info)
	}
}

func TestRingOfAnotherOwnerIsRefusedUnlessAllowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	path := filepath.Join(t.TempDir(), "ring")
	r, err := CreateAt(path, SPSCOptions(4, 16))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := os.Chown(path, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAt(path); !errors.Is(err, ErrPermission) ||
		!strings.Contains(err.Error(), "shmlane.AllowOtherOwner()") {
		t.Fatalf("another owner's ring: %v", err)
	}
	again, err := OpenAt(path, AllowOtherOwner())
	if err != nil {
		t.Fatalf("opted in: %v", err)
	}
	again.Close()
}

// A header no creator will finish is corrupt at once; one whose creator still
// runs is waited for; a ready header that fails its own checks is corrupt and
// names the field (Rust and C behave the same).
func TestHeadersNoCreatorWillFinishOrThatFailTheirChecksAreCorrupt(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	header := make([]byte, 4096)
	binary.LittleEndian.PutUint64(header[hdrMagic:], Magic)
	os.WriteFile(at("magic-only"), header, 0o600)
	started := time.Now()
	_, err := OpenAt(at("magic-only"), ReadyTimeout(time.Hour))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "creator_pid is 0") {
		t.Errorf("magic and zeros: %v", err)
	}
	if waited := time.Since(started); waited > 10*time.Second {
		t.Errorf("magic and zeros waited %v for a creator that does not exist", waited)
	}
	binary.LittleEndian.PutUint32(header[hdrCreatorPid:], uint32(os.Getpid()))
	os.WriteFile(at("creator-runs"), header, 0o600)
	if _, err := OpenAt(at("creator-runs"), ReadyTimeout(20*time.Millisecond)); !errors.Is(err, ErrNotReady) {
		t.Errorf("a creator that runs: %v", err)
	}

	r, err := CreateAt(at("capacity"), SPSCOptions(4, 16))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	f, err := os.OpenFile(at("capacity"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var capacity [8]byte
	binary.LittleEndian.PutUint64(capacity[:], 1000)
	f.WriteAt(capacity[:], hdrCapacity)
	f.Close()
	_, err = OpenAt(at("capacity"))
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadGeometry) ||
		!strings.Contains(err.Error(), "header field capacity") {
		t.Errorf("capacity 1000 in a ready header: %v", err)
	}
}
