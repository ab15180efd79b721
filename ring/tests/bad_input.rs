//! Bad input of every kind gets its own error, never a panic.
//!
//! The main test is a table: each case names the bad input, sets it up in a
//! fresh scratch directory, makes the one call that must fail, and states the
//! error variant (with `matches!`, sometimes with field values) it must fail
//! with. Every case runs even when an earlier one fails, and the test reports all
//! failures together. The tests after the table check what a failure leaves
//! behind (nothing published, the message still in the ring) and that each
//! opt-out option really lets the refused file through.
//!
//! Headers are patched the way a careless or hostile peer would: read the 256
//! header bytes from the file, change fields, recompute the layout hash (or,
//! for some cases, deliberately not), write them back.
#![cfg(not(loom))] // the loom build of shmlane has no file layer

mod common;

use std::error::Error as StdError;
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{unique_name, Scratch};
use shmlane::layout::{header_hash, Header, HEADER_SIZE, TAIL_OFFSET};
use shmlane::{spsc, Error, ErrorKind, Kind, OpenOptions, Remedy, Ring, RingOptions, SHM_DIR};

/// A major layout version no reader of this build accepts.
const NEXT_MAJOR: u16 = shmlane::layout::VERSION_MAJOR + 1;

/// Geometry of the valid rings the cases start from: 16 slots of 64 bytes.
const CAPACITY: u64 = 16;
const SLOT_SIZE: u64 = 64;
/// How long an opener waits for a ready word that never comes.
const SHORT_READY_TIMEOUT: Duration = Duration::from_millis(50);
/// A uid that is not root's: `nobody` on most systems.
const OTHER_UID: u32 = 65534;

/// The result of the call under test.
type Outcome = Result<(), Error>;
/// The outer error is a failure of the case's own setup, not of the call under test.
type SetupResult = Result<Outcome, Box<dyn StdError>>;

/// Removes `/dev/shm/<name>` on drop, whatever the case did with it.
struct RemoveShmFile(PathBuf);

impl RemoveShmFile {
    fn new(name: &str) -> RemoveShmFile {
        RemoveShmFile(Path::new(SHM_DIR).join(name))
    }
}

impl Drop for RemoveShmFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Creates a valid ring in the scratch directory and closes it; returns its path.
fn valid_ring(scratch: &Scratch) -> Result<PathBuf, Error> {
    let path = scratch.path("ring");
    Ring::create(&path, &RingOptions::spsc(CAPACITY, SLOT_SIZE))?;
    Ok(path)
}

/// Reads the header of the file at `path`, lets `edit` change it, recomputes the
/// layout hash if `rehash`, and writes the header back.
fn patch_header(path: &Path, rehash: bool, edit: impl FnOnce(&mut Header)) -> io::Result<()> {
    let file = File::options().read(true).write(true).open(path)?;
    let mut bytes = [0u8; HEADER_SIZE];
    file.read_exact_at(&mut bytes, 0)?;
    let mut header = Header::from_bytes(&bytes);
    edit(&mut header);
    if rehash {
        header.layout_hash = header_hash(&header.to_bytes());
    }
    file.write_all_at(&header.to_bytes(), 0)
}

/// A valid ring whose header `edit` changed, with the layout hash recomputed, so
/// that only the edited fields differ from a good ring.
fn ring_with_header(
    scratch: &Scratch,
    edit: impl FnOnce(&mut Header),
) -> Result<PathBuf, Box<dyn StdError>> {
    let path = valid_ring(scratch)?;
    patch_header(&path, true, edit)?;
    Ok(path)
}

/// A valid ring whose header `edit` changed, with the old layout hash left in place.
fn ring_with_stale_hash(
    scratch: &Scratch,
    edit: impl FnOnce(&mut Header),
) -> Result<PathBuf, Box<dyn StdError>> {
    let path = valid_ring(scratch)?;
    patch_header(&path, false, edit)?;
    Ok(path)
}

/// A ring that is a consistent MPMC ring in every field: the kind code, and the
/// slot header size and largest payload that go with it. Changing the kind code
/// alone would leave fields that disagree with it, which is `Corrupt`, not
/// `WrongKind` (see the case "kind code changed alone").
fn mpmc_ring(scratch: &Scratch) -> Result<PathBuf, Box<dyn StdError>> {
    ring_with_header(scratch, |header| {
        header.kind = Kind::Mpmc.code();
        header.slot_header_size = Kind::Mpmc.slot_header_size(false) as u32;
        header.max_payload = header.slot_size - u64::from(header.slot_header_size);
    })
}

/// Writes a new file of mode 0600 (so that the mode check never interferes).
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

fn open(path: &Path) -> Outcome {
    Ring::open(path).map(drop)
}

fn open_with(path: &Path, options: &OpenOptions) -> Outcome {
    options.open(path).map(drop)
}

fn create(path: &Path, options: &RingOptions) -> Outcome {
    Ring::create(path, options).map(drop)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// One row of the table.
struct Case {
    /// What is bad about the input.
    name: &'static str,
    /// The kind (and details) the error must have, for the failure message.
    expected: &'static str,
    /// Whether the error is that.
    is_expected: fn(&Error) -> bool,
    /// Sets up the bad input and makes the call that must fail.
    run: fn(&Scratch) -> SetupResult,
}

macro_rules! case {
    ($name:expr, $kind:ident, $run:expr) => {
        Case {
            name: $name,
            expected: stringify!($kind),
            is_expected: |error| error.kind() == ErrorKind::$kind,
            run: $run,
        }
    };
    ($name:expr, $kind:ident where |$error:ident| $check:expr, $run:expr) => {
        Case {
            name: $name,
            expected: concat!(stringify!($kind), " where ", stringify!($check)),
            is_expected: |$error| $error.kind() == ErrorKind::$kind && $check,
            run: $run,
        }
    };
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        // Missing and existing files.
        case!("opening a missing file", NotFound, |s| {
            Ok(open(&s.path("missing")))
        }),
        case!("opening a missing name", NotFound, |_| {
            Ok(Ring::open(&unique_name("missing")).map(drop))
        }),
        case!("creating over an existing file", AlreadyExists, |s| {
            let path = valid_ring(s)?;
            Ok(create(&path, &RingOptions::spsc(CAPACITY, SLOT_SIZE)))
        }),
        case!("creating over an existing name", AlreadyExists, |_| {
            let name = unique_name("exists");
            let _remove = RemoveShmFile::new(&name);
            let options = RingOptions::spsc(CAPACITY, SLOT_SIZE);
            let _first = Ring::create(&name, &options)?;
            Ok(Ring::create(&name, &options).map(drop))
        }),
        // Bad names, refused before the file system is touched.
        case!("opening an empty name", BadName, |_| {
            Ok(Ring::open("").map(drop))
        }),
        case!("creating the name ..", BadName, |_| {
            Ok(Ring::create("..", &RingOptions::spsc(CAPACITY, SLOT_SIZE)).map(drop))
        }),
        case!("opening a name with a slash", BadName, |s| {
            // A path that exists: only the name check can refuse it.
            valid_ring(s)?;
            let dir = s.dir().file_name().ok_or("scratch dir has no name")?;
            Ok(Ring::open(&format!("{}/ring", dir.to_string_lossy())).map(drop))
        }),
        case!("creating a name with a slash", BadName, |s| {
            let dir = s.dir().file_name().ok_or("scratch dir has no name")?;
            let name = format!("{}/ring", dir.to_string_lossy());
            Ok(Ring::create(&name, &RingOptions::spsc(CAPACITY, SLOT_SIZE)).map(drop))
        }),
        case!("creating a name of 201 characters", BadName, |_| {
            let prefix = unique_name("long");
            let name = format!("{prefix}{}", "x".repeat(201 - prefix.len()));
            let _remove = RemoveShmFile::new(&name);
            Ok(Ring::create(&name, &RingOptions::spsc(CAPACITY, SLOT_SIZE)).map(drop))
        }),
        case!("creating a name with a leading dot", BadName, |_| {
            let name = format!(".{}", unique_name("dot"));
            let _remove = RemoveShmFile::new(&name);
            Ok(Ring::create(&name, &RingOptions::spsc(CAPACITY, SLOT_SIZE)).map(drop))
        }),
        case!("opening a name with a leading dot", BadName, |_| {
            let name = format!(".{}", unique_name("dot"));
            let _remove = RemoveShmFile::new(&name);
            // The file exists, so only the name check can refuse it.
            Ring::create(
                Path::new(SHM_DIR).join(&name),
                &RingOptions::spsc(CAPACITY, SLOT_SIZE),
            )?;
            Ok(Ring::open(&name).map(drop))
        }),
        // Links are never followed.
        case!("opening a symlink to a valid ring", Symlink, |s| {
            let target = valid_ring(s)?;
            let link = s.path("link");
            std::os::unix::fs::symlink(&target, &link)?;
            Ok(open(&link))
        }),
        case!(
            "opening a name that is a symlink to a valid ring",
            Symlink,
            |s| {
                let target = valid_ring(s)?;
                let name = unique_name("link");
                let _remove = RemoveShmFile::new(&name);
                std::os::unix::fs::symlink(&target, Path::new(SHM_DIR).join(&name))?;
                Ok(Ring::open(&name).map(drop))
            }
        ),
        // Files that are not rings.
        case!("opening a short text file", NotARing, |s| {
            let path = s.path("text");
            write_file(&path, b"hello\n")?;
            Ok(open(&path))
        }),
        // Text where the ready word would be: the magic tells it is no ring
        // before the ready word could call it a corrupt one.
        case!("opening a long text file", NotARing, |s| {
            let path = s.path("long-text");
            write_file(&path, "all work and no play. ".repeat(40).as_bytes())?;
            Ok(open(&path))
        }),
        case!(
            "opening a 4096-byte file with another magic",
            NotARing,
            |s| {
                let path = s.path("other");
                let mut bytes = vec![0u8; 4096];
                bytes[..8].copy_from_slice(b"NOTARING");
                write_file(&path, &bytes)?;
                Ok(open(&path))
            }
        ),
        case!("opening a directory", NotARing, |s| { Ok(open(s.dir())) }),
        case!("a valid ring with the wrong magic", NotARing, |s| {
            let path = ring_with_header(s, |header| {
                header.magic = u64::from_le_bytes(*b"SHMLANX\0");
            })?;
            Ok(open(&path))
        }),
        // Versions and kinds.
        case!(
            "an unsupported major version",
            UnsupportedVersion where |e| e
                .to_string()
                .starts_with(&format!(
                    "ring layout version {NEXT_MAJOR}.{} ",
                    shmlane::layout::VERSION_MINOR
                )),
            |s| {
                let path = ring_with_header(s, |header| header.version_major = NEXT_MAJOR)?;
                Ok(open(&path))
            }
        ),
        case!(
            "an MPMC ring opened as SPSC",
            WrongKind where |e| e.to_string() == "ring is mpmc, expected spsc",
            |s| {
                let path = mpmc_ring(s)?;
                Ok(open_with(
                    &path,
                    &OpenOptions::new().expect_kind(Kind::Spsc),
                ))
            }
        ),
        case!(
            "an SPSC producer joining an MPMC ring",
            WrongKind where |e| e.to_string() == "ring is mpmc, expected spsc",
            |s| {
                let ring = Ring::open(mpmc_ring(s)?)?;
                Ok(spsc::Producer::join(&ring).map(drop))
            }
        ),
        case!(
            "an SPSC consumer joining an MPMC ring",
            WrongKind where |e| e.to_string() == "ring is mpmc, expected spsc",
            |s| {
                let ring = Ring::open(mpmc_ring(s)?)?;
                Ok(spsc::Consumer::join(&ring).map(drop))
            }
        ),
        case!("an unknown kind code", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.kind = 7)?;
            Ok(open(&path))
        }),
        // Geometry refused at create time; no file is made.
        case!("creating with capacity zero", BadGeometry, |s| {
            Ok(create(&s.path("ring"), &RingOptions::spsc(0, SLOT_SIZE)))
        }),
        case!(
            "creating with a capacity that is not a power of two",
            BadGeometry,
            |s| Ok(create(&s.path("ring"), &RingOptions::spsc(24, SLOT_SIZE)))
        ),
        case!("creating with a capacity of 2^40", BadGeometry, |s| Ok(
            create(&s.path("ring"), &RingOptions::spsc(1 << 40, 4096))
        )),
        case!(
            "creating 2^32 slots of 2^31 bytes (beyond 1 TiB)",
            BadGeometry,
            |s| Ok(create(
                &s.path("ring"),
                &RingOptions::spsc(1 << 32, 1 << 31)
            ))
        ),
        case!(
            "creating with a slot too small for any payload",
            BadGeometry,
            |s| Ok(create(&s.path("ring"), &RingOptions::spsc(CAPACITY, 8)))
        ),
        case!(
            "creating with a slot size not a multiple of 8",
            BadGeometry,
            |s| Ok(create(&s.path("ring"), &RingOptions::spsc(CAPACITY, 60)))
        ),
        // The same geometry read from a header, hash recomputed: no creator
        // writes it, so the file is corrupt (not a bad command line).
        case!("a header with capacity zero", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.capacity = 0)?;
            Ok(open(&path))
        }),
        case!(
            "a header with a capacity that is not a power of two",
            Corrupt,
            |s| {
                let path = ring_with_header(s, |header| header.capacity = 24)?;
                Ok(open(&path))
            }
        ),
        case!("a header with 2^32 slots of 2^31 bytes", Corrupt, |s| {
            let path = ring_with_header(s, |header| {
                header.capacity = 1 << 32;
                header.slot_size = 1 << 31;
            })?;
            Ok(open(&path))
        }),
        case!(
            "a header with a slot too small for any payload",
            Corrupt,
            |s| {
                let path = ring_with_header(s, |header| header.slot_size = 8)?;
                Ok(open(&path))
            }
        ),
        // Files shorter than their header says.
        case!(
            "a ring file truncated by one slot",
            FileTooSmall where |e| e.sizes() == Some((2112, 2176)),
            |s| {
                let path = valid_ring(s)?;
                File::options()
                    .write(true)
                    .open(&path)?
                    .set_len(2176 - SLOT_SIZE)?;
                Ok(open(&path))
            }
        ),
        case!("a ring file truncated to its header", FileTooSmall, |s| {
            let path = valid_ring(s)?;
            File::options()
                .write(true)
                .open(&path)?
                .set_len(HEADER_SIZE as u64)?;
            Ok(open(&path))
        }),
        // Header fields that disagree with each other.
        case!("slots_offset moved, hash recomputed", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.slots_offset += 128)?;
            Ok(open(&path))
        }),
        case!("total_size grown, hash recomputed", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.total_size += 4096)?;
            Ok(open(&path))
        }),
        case!("max_payload raised, hash recomputed", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.max_payload += 8)?;
            Ok(open(&path))
        }),
        case!("kind code changed alone, hash recomputed", Corrupt, |s| {
            let path = ring_with_header(s, |header| header.kind = Kind::Mpmc.code())?;
            Ok(open(&path))
        }),
        case!("minor version changed, hash not recomputed", Corrupt, |s| {
            let path = ring_with_stale_hash(s, |header| header.version_minor += 1)?;
            Ok(open(&path))
        }),
        case!("layout hash flipped", Corrupt, |s| {
            let path = ring_with_stale_hash(s, |header| header.layout_hash ^= 1)?;
            Ok(open(&path))
        }),
        case!(
            "joining a ring whose tail is beyond its capacity",
            Corrupt,
            |s| {
                let path = valid_ring(s)?;
                File::options()
                    .write(true)
                    .open(&path)?
                    .write_all_at(&(CAPACITY + 1).to_le_bytes(), TAIL_OFFSET as u64)?;
                let ring = Ring::open(&path)?;
                Ok(spsc::Producer::join(&ring).map(drop))
            }
        ),
        // Creators that never finished.
        case!("a valid header whose ready word is zero", NotReady, |s| {
            let path = ring_with_header(s, |header| header.ready = 0)?;
            Ok(open_with(
                &path,
                &OpenOptions::new().ready_timeout(SHORT_READY_TIMEOUT),
            ))
        }),
        case!("an all-zero file of 4096 bytes", NotReady, |s| {
            let path = s.path("zeros");
            write_file(&path, &[0u8; 4096])?;
            Ok(open_with(
                &path,
                &OpenOptions::new().ready_timeout(SHORT_READY_TIMEOUT),
            ))
        }),
        case!("an empty file", NotReady, |s| {
            let path = s.path("empty");
            write_file(&path, &[])?;
            Ok(open_with(
                &path,
                &OpenOptions::new().ready_timeout(SHORT_READY_TIMEOUT),
            ))
        }),
        // Modes that let others write the ring.
        case!("a ring file of mode 0666", Permission, |s| {
            let path = valid_ring(s)?;
            fs::set_permissions(&path, Permissions::from_mode(0o666))?;
            Ok(open(&path))
        }),
        case!("a ring file of mode 0620", Permission, |s| {
            let path = valid_ring(s)?;
            fs::set_permissions(&path, Permissions::from_mode(0o620))?;
            Ok(open(&path))
        }),
        // Messages and buffers of the wrong size.
        case!(
            "sending one byte more than max_payload",
            MessageTooLarge where |e| e.sizes() == Some((57, 56)),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let mut producer = spsc::Producer::join(&ring)?;
                let message = vec![7u8; producer.max_payload() + 1];
                Ok(producer.try_send(&message).map(drop))
            }
        ),
        case!(
            "committing one byte more than max_payload",
            MessageTooLarge where |e| e.sizes() == Some((57, 56)),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let mut producer = spsc::Producer::join(&ring)?;
                let max = producer.max_payload();
                let slot = producer.try_reserve()?.expect("an empty ring has room");
                let refused = slot.commit(max + 1);
                Ok(refused)
            }
        ),
        case!(
            "writing one byte more than max_payload into a batch",
            MessageTooLarge where |e| e.sizes() == Some((57, 56)),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let mut producer = spsc::Producer::join(&ring)?;
                let message = vec![7u8; producer.max_payload() + 1];
                let mut batch = producer.try_reserve_batch(2)?;
                Ok(batch.write(0, &message))
            }
        ),
        case!(
            "receiving into a buffer one byte too small",
            BufferTooSmall where |e| e.sizes() == Some((12, 11)),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let mut producer = spsc::Producer::join(&ring)?;
                let mut consumer = spsc::Consumer::join(&ring)?;
                assert!(producer.try_send(b"twelve bytes")?);
                Ok(consumer.try_recv(&mut [0u8; 11]).map(drop))
            }
        ),
        // A role that a live handle holds.
        case!(
            "a second producer while the first lives",
            RoleTaken where |e| e.to_string().contains("live producer"),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let _first = spsc::Producer::join(&ring)?;
                Ok(spsc::Producer::join(&ring).map(drop))
            }
        ),
        case!(
            "a second consumer while the first lives",
            RoleTaken where |e| e.to_string().contains("live consumer"),
            |s| {
                let ring = Ring::open(valid_ring(s)?)?;
                let _first = spsc::Consumer::join(&ring)?;
                Ok(spsc::Consumer::join(&ring).map(drop))
            }
        ),
        case!(
            "a second producer through a second opening of the ring",
            RoleTaken where |e| e.to_string().contains("live producer"),
            |s| {
                let path = valid_ring(s)?;
                let first_ring = Ring::open(&path)?;
                let _first = spsc::Producer::join(&first_ring)?;
                let second_ring = Ring::open(&path)?;
                Ok(spsc::Producer::join(&second_ring).map(drop))
            }
        ),
    ];
    if running_as_root() {
        cases.push(case!(
            "a ring file owned by another user",
            Permission,
            |s| {
                let path = valid_ring(s)?;
                std::os::unix::fs::chown(&path, Some(OTHER_UID), Some(OTHER_UID))?;
                Ok(open(&path))
            }
        ));
    } else {
        eprintln!("not root: the case of a ring owned by another user is skipped");
    }
    cases
}

#[test]
fn every_bad_input_returns_its_own_error() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let scratch = match Scratch::new("case") {
            Ok(scratch) => scratch,
            Err(error) => {
                failures.push(format!(
                    "{}: cannot make a scratch directory: {error}",
                    case.name
                ));
                continue;
            }
        };
        // A panic is a failure of this case only; the others still run.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (case.run)(&scratch)));
        match outcome {
            Err(_) => failures.push(format!("{}: panicked", case.name)),
            Ok(Err(setup)) => failures.push(format!("{}: setup failed: {setup}", case.name)),
            Ok(Ok(Ok(()))) => failures.push(format!(
                "{}: succeeded, expected {}",
                case.name, case.expected
            )),
            Ok(Ok(Err(error))) if !(case.is_expected)(&error) => failures.push(format!(
                "{}: got {error:?} (\"{error}\"), expected {}",
                case.name, case.expected
            )),
            Ok(Ok(Err(_))) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn patching_nothing_leaves_a_ring_that_opens() -> Result<(), Box<dyn StdError>> {
    // The control for the header cases: the patch itself breaks nothing.
    let scratch = Scratch::new("control")?;
    let path = ring_with_header(&scratch, |_| {})?;
    let ring = OpenOptions::new().expect_kind(Kind::Spsc).open(&path)?;
    assert_eq!(ring.geometry().capacity, CAPACITY);
    assert_eq!(ring.geometry().slot_size, SLOT_SIZE);
    Ok(())
}

#[test]
fn a_consistent_mpmc_header_opens_as_mpmc() -> Result<(), Box<dyn StdError>> {
    // The control for the wrong-kind cases: the patched ring is a valid MPMC ring,
    // so `WrongKind` there is about the kind and nothing else.
    let scratch = Scratch::new("mpmc")?;
    let ring = Ring::open(mpmc_ring(&scratch)?)?;
    assert_eq!(ring.kind(), Kind::Mpmc);
    assert_eq!(ring.max_payload(), 48);
    Ok(())
}

#[test]
fn failed_creates_leave_no_file() -> Result<(), Box<dyn StdError>> {
    let scratch = Scratch::new("no-file")?;
    let path = scratch.path("ring");
    for options in [
        RingOptions::spsc(0, SLOT_SIZE),
        RingOptions::spsc(24, SLOT_SIZE),
        RingOptions::spsc(1 << 32, 1 << 31),
        RingOptions::spsc(CAPACITY, 8),
    ] {
        let result = Ring::create(&path, &options);
        assert!(
            matches!(result, Err(ref e) if e.kind() == ErrorKind::BadGeometry),
            "{options:?}: {result:?}"
        );
        assert!(!path.exists(), "{options:?} left a file behind");
    }
    Ok(())
}

#[test]
fn a_shared_mode_is_accepted_when_allowed() -> Result<(), Box<dyn StdError>> {
    let scratch = Scratch::new("mode")?;
    let path = valid_ring(&scratch)?;
    fs::set_permissions(&path, Permissions::from_mode(0o666))?;
    let refused = Ring::open(&path);
    assert!(
        matches!(refused, Err(ref e) if e.kind() == ErrorKind::Permission),
        "{refused:?}"
    );
    // The message names the Rust setting; the remedy lets the CLI, C and
    // Go name their own, on a message that names none.
    let refused = refused.unwrap_err();
    assert_eq!(refused.remedy(), Some(Remedy::AllowSharedMode));
    let message = refused.to_string();
    assert!(
        message.contains("mode 0666 lets group or others write it"),
        "{message}"
    );
    assert!(
        message.ends_with("; to accept that, open it with OpenOptions::allow_shared_mode(true)"),
        "{message}"
    );
    let bare = refused.message().to_string();
    assert!(
        message.starts_with(&bare) && !bare.contains("OpenOptions"),
        "{bare}"
    );
    let ring = OpenOptions::new().allow_shared_mode(true).open(&path)?;
    assert_eq!(ring.geometry().capacity, CAPACITY);
    Ok(())
}

#[test]
fn another_owner_is_accepted_when_allowed() -> Result<(), Box<dyn StdError>> {
    if !running_as_root() {
        eprintln!("not root: cannot give a file to another user; skipped");
        return Ok(());
    }
    let scratch = Scratch::new("owner")?;
    let path = valid_ring(&scratch)?;
    std::os::unix::fs::chown(&path, Some(OTHER_UID), Some(OTHER_UID))?;
    let refused = Ring::open(&path);
    assert!(
        matches!(refused, Err(ref e) if e.kind() == ErrorKind::Permission),
        "{refused:?}"
    );
    assert_eq!(
        refused.as_ref().unwrap_err().remedy(),
        Some(Remedy::AllowOtherOwner)
    );
    let ring = OpenOptions::new().allow_other_owner(true).open(&path)?;
    assert_eq!(ring.geometry().capacity, CAPACITY);
    Ok(())
}

#[test]
fn a_commit_over_max_payload_publishes_nothing() -> Result<(), Box<dyn StdError>> {
    let scratch = Scratch::new("commit")?;
    let ring = Ring::open(valid_ring(&scratch)?)?;
    let mut producer = spsc::Producer::join(&ring)?;
    let mut consumer = spsc::Consumer::join(&ring)?;
    let max = producer.max_payload();

    let mut slot = producer
        .try_reserve()?
        .expect("the test made room or a message for this");
    slot[..5].copy_from_slice(b"never");
    let refused = slot.commit(max + 1);
    assert!(
        matches!(refused, Err(ref e) if e.kind() == ErrorKind::MessageTooLarge),
        "{refused:?}"
    );
    let read = consumer
        .try_read()
        .map(|message| message.map(|m| m.to_vec()));
    assert!(matches!(read, Ok(None)), "{read:?}");

    // The slot was given back: the next message takes it and arrives alone.
    assert!(producer.try_send(b"after")?);
    assert_eq!(
        &*consumer
            .try_read()?
            .expect("the test made room or a message for this"),
        b"after"
    );
    let read = consumer
        .try_read()
        .map(|message| message.map(|m| m.to_vec()));
    assert!(matches!(read, Ok(None)), "{read:?}");
    Ok(())
}

#[test]
fn a_too_small_buffer_leaves_the_message_in_the_ring() -> Result<(), Box<dyn StdError>> {
    let scratch = Scratch::new("buffer")?;
    let ring = Ring::open(valid_ring(&scratch)?)?;
    let mut producer = spsc::Producer::join(&ring)?;
    let mut consumer = spsc::Consumer::join(&ring)?;
    assert!(producer.try_send(b"twelve bytes")?);
    assert!(producer.try_send(b"second")?);

    let mut small = [0u8; 4];
    let refused = consumer.try_recv(&mut small);
    assert!(
        matches!(
            refused, Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((12, 4))),
        "{refused:?}"
    );
    let mut buffer = [0u8; 64];
    let len = consumer.try_recv(&mut buffer)?.expect("a message is there");
    assert_eq!(&buffer[..len], b"twelve bytes");
    let len = consumer.try_recv(&mut buffer)?.expect("a message is there");
    assert_eq!(&buffer[..len], b"second");
    Ok(())
}

#[test]
fn a_role_is_free_again_once_its_holder_drops() -> Result<(), Box<dyn StdError>> {
    // The control for the role-taken cases: the refusal is about the live holder.
    let scratch = Scratch::new("role")?;
    let ring = Ring::open(valid_ring(&scratch)?)?;
    let first = spsc::Producer::join(&ring)?;
    let refused = spsc::Producer::join(&ring);
    assert!(
        matches!(refused, Err(ref e) if e.kind() == ErrorKind::RoleTaken),
        "{refused:?}"
    );
    drop(first);
    let _second = spsc::Producer::join(&ring)?;
    let first_consumer = spsc::Consumer::join(&ring)?;
    drop(first_consumer);
    let _second_consumer = spsc::Consumer::join(&ring)?;
    Ok(())
}
