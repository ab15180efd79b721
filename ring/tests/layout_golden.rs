//! The layout's numbers as one table every language checks itself against.
//!
//! `docs/layout-golden.tsv` lists every field's offset and width and every
//! constant of layout v2. This test derives the table from the Rust layout
//! (`offset_of!` on the `#[repr(C)]` structs and the `layout` constants), fails
//! if the checked-in file differs, and checks each field row against the tables
//! of `docs/layout.md`. The C tests (`bindings-c/tests`) and the Go tests
//! (`bindings-go`) read the same file. `SHMLANE_BLESS=1` rewrites it.

use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;

use shmlane::layout::WaitLine;
use shmlane::layout::{self, Header, Kind, MpmcSlotHeader, ParticipantRecord, SpscSlotHeader};

/// One field: its section, name, offset (absolute for the header and the
/// fixed lines; relative to the record, line or slot otherwise) and width.
struct Field {
    section: &'static str,
    name: &'static str,
    offset: usize,
    width: usize,
    /// Whether `docs/layout.md` writes the offset as `+N` (relative).
    relative: bool,
}

macro_rules! fields {
    ($section:literal, $ty:ty, $base:expr, $relative:expr, [$($name:ident),* $(,)?]) => {{
        // Width from a value of the field's type, without constructing `$ty`.
        fn width_of<T>(_: fn(&$ty) -> &T) -> usize { size_of::<T>() }
        vec![$(Field {
            section: $section,
            name: stringify!($name),
            offset: $base + offset_of!($ty, $name),
            width: width_of(|value: &$ty| &value.$name),
            relative: $relative,
        }),*]
    }};
}

fn fields() -> Vec<Field> {
    let mut all = fields!(
        "header",
        Header,
        0,
        false,
        [
            magic,
            version_major,
            version_minor,
            kind,
            line_size,
            slot_header_size,
            capacity,
            slot_size,
            max_payload,
            producer_line_offset,
            consumer_line_offset,
            wait_lines_offset,
            participants_offset,
            participant_count,
            participant_record_size,
            slots_offset,
            total_size,
            flags,
            layout_hash,
            creator_pid,
            ready,
            creation_time_ns,
        ]
    );
    let line = |section, name, offset| Field {
        section,
        name,
        offset,
        width: 8,
        relative: false,
    };
    all.push(line("producer_line", "tail", layout::TAIL_OFFSET));
    all.push(line("producer_line", "gate", layout::GATE_OFFSET));
    all.push(line("consumer_line", "head", layout::HEAD_OFFSET));
    all.push(line(
        "membership",
        "producer_joins",
        layout::PRODUCER_JOINS_OFFSET,
    ));
    all.push(line(
        "membership",
        "consumer_joins",
        layout::CONSUMER_JOINS_OFFSET,
    ));
    all.push(line(
        "membership",
        "dropped_claims",
        layout::DROPPED_CLAIMS_OFFSET,
    ));
    all.push(line(
        "membership",
        "lost_messages",
        layout::LOST_MESSAGES_OFFSET,
    ));
    all.extend(fields!(
        "wait_line",
        WaitLine,
        0,
        true,
        [futex, waiters, sleeps, wakes, sleepers, epoch]
    ));
    all.extend(fields!(
        "participant",
        ParticipantRecord,
        0,
        true,
        [
            owner,
            pid,
            subscription,
            joined_ns,
            cursor,
            messages,
            bytes,
            lost,
            claim_start,
            wake_ack,
            wait_state,
            claim_end
        ]
    ));
    all.extend(fields!("spsc_slot", SpscSlotHeader, 0, true, [len, flags]));
    all.extend(fields!(
        "mpmc_slot",
        MpmcSlotHeader,
        0,
        true,
        [stamp, len, flags]
    ));
    all
}

fn constants() -> Vec<(&'static str, u64)> {
    vec![
        ("MAGIC", layout::MAGIC),
        ("VERSION_MAJOR", layout::VERSION_MAJOR.into()),
        ("VERSION_MINOR", layout::VERSION_MINOR.into()),
        ("READY", layout::READY.into()),
        ("LINE_SIZE", layout::LINE_SIZE as u64),
        ("HEADER_SIZE", layout::HEADER_SIZE as u64),
        ("PRODUCER_LINE_OFFSET", layout::PRODUCER_LINE_OFFSET as u64),
        ("CONSUMER_LINE_OFFSET", layout::CONSUMER_LINE_OFFSET as u64),
        ("WAIT_LINES_OFFSET", layout::WAIT_LINES_OFFSET as u64),
        (
            "DATA_WAIT_LINE_OFFSET",
            layout::DATA_WAIT_LINE_OFFSET as u64,
        ),
        (
            "SPACE_WAIT_LINE_OFFSET",
            layout::SPACE_WAIT_LINE_OFFSET as u64,
        ),
        (
            "MEMBERSHIP_LINE_OFFSET",
            layout::MEMBERSHIP_LINE_OFFSET as u64,
        ),
        ("PARTICIPANTS_OFFSET", layout::PARTICIPANTS_OFFSET as u64),
        (
            "PARTICIPANT_RECORD_SIZE",
            layout::PARTICIPANT_RECORD_SIZE as u64,
        ),
        ("HASHED_HEADER_BYTES", layout::HASHED_HEADER_BYTES as u64),
        ("FNV_OFFSET_BASIS", 0xcbf2_9ce4_8422_2325),
        ("FNV_PRIME", 0x0000_0100_0000_01b3),
        ("FLAG_FIXED_SIZE", layout::FLAG_FIXED_SIZE.into()),
        ("FLAG_OVERWRITE", layout::FLAG_OVERWRITE.into()),
        ("KNOWN_FLAGS", layout::KNOWN_FLAGS.into()),
        ("KIND_SPSC", Kind::Spsc.code().into()),
        ("KIND_MPMC", Kind::Mpmc.code().into()),
        ("KIND_BROADCAST", Kind::Broadcast.code().into()),
        (
            "SPSC_SLOT_HEADER_SIZE",
            Kind::Spsc.slot_header_size(false) as u64,
        ),
        (
            "SPSC_FIXED_SLOT_HEADER_SIZE",
            Kind::Spsc.slot_header_size(true) as u64,
        ),
        (
            "MPMC_SLOT_HEADER_SIZE",
            Kind::Mpmc.slot_header_size(false) as u64,
        ),
        (
            "MPMC_FIXED_SLOT_HEADER_SIZE",
            Kind::Mpmc.slot_header_size(true) as u64,
        ),
        (
            "BROADCAST_SLOT_HEADER_SIZE",
            Kind::Broadcast.slot_header_size(false) as u64,
        ),
        (
            "BROADCAST_FIXED_SLOT_HEADER_SIZE",
            Kind::Broadcast.slot_header_size(true) as u64,
        ),
        ("MIN_CAPACITY", layout::MIN_CAPACITY),
        ("MAX_CAPACITY", layout::MAX_CAPACITY),
        ("MIN_MAX_PAYLOAD", layout::MIN_MAX_PAYLOAD),
        ("MAX_SLOT_SIZE", layout::MAX_SLOT_SIZE),
        ("MAX_TOTAL_SIZE", layout::MAX_TOTAL_SIZE),
        ("MAX_PARTICIPANTS", layout::MAX_PARTICIPANTS.into()),
        ("SPSC_PARTICIPANTS", 2),
        ("STAMP_SKIP", layout::STAMP_SKIP),
        ("STAMP_WRITING", layout::STAMP_WRITING),
        (
            "SUBSCRIPTION_TETHERED",
            layout::SUBSCRIPTION_TETHERED.into(),
        ),
        (
            "SUBSCRIPTION_UNTETHERED",
            layout::SUBSCRIPTION_UNTETHERED.into(),
        ),
        ("STATE_FREE", layout::STATE_FREE),
        ("STATE_ACTIVE", layout::STATE_ACTIVE),
        ("STATE_CLOSED", layout::STATE_CLOSED),
        ("ROLE_PRODUCER", layout::ROLE_PRODUCER),
        ("ROLE_CONSUMER", layout::ROLE_CONSUMER),
        ("WAIT_STATE_REGISTERED", layout::WAIT_STATE_REGISTERED),
        ("WAIT_STATE_WAITING", layout::WAIT_STATE_WAITING),
    ]
}

fn render() -> String {
    let mut text = String::from(
        "# shmlane layout v2.2: every field and constant, one per row, tab-separated.\n\
         # Generated from the Rust layout by ring/tests/layout_golden.rs (SHMLANE_BLESS=1\n\
         # rewrites it) and checked against docs/layout.md there; the C and Go tests\n\
         # check their own numbers against this file.\n\
         # field<TAB>section.name<TAB>offset<TAB>width: offsets are absolute for header,\n\
         # producer_line, consumer_line and membership; relative to the line, record\n\
         # or slot for wait_line, participant, spsc_slot and mpmc_slot.\n\
         # const<TAB>NAME<TAB>value (decimal)\n",
    );
    for field in fields() {
        writeln!(
            text,
            "field\t{}.{}\t{}\t{}",
            field.section, field.name, field.offset, field.width
        )
        .unwrap();
    }
    for (name, value) in constants() {
        writeln!(text, "const\t{name}\t{value}").unwrap();
    }
    text
}

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

#[test]
fn golden_file_matches_the_rust_layout() {
    let path = repo_file("docs/layout-golden.tsv");
    let expected = render();
    if std::env::var_os("SHMLANE_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let found = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SHMLANE_BLESS=1)", path.display()));
    assert!(
        found == expected,
        "{} is stale; run `SHMLANE_BLESS=1 cargo test -p shmlane --test layout_golden` \
         and review the diff",
        path.display()
    );
}

/// The rows of every table in `docs/layout.md` whose third column is a field
/// name in backticks: `(offset, width, name)` as written.
fn documented_fields() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo_file("docs/layout.md")).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let name = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((cells[0].to_owned(), cells[1].to_owned(), name.to_owned()))
        })
        .collect()
}

#[test]
fn every_field_appears_in_the_layout_document_at_its_offset() {
    let documented = documented_fields();
    for field in fields() {
        let offset = if field.relative {
            format!("+{}", field.offset)
        } else {
            field.offset.to_string()
        };
        let width = field.width.to_string();
        assert!(
            documented
                .iter()
                .any(|(o, w, n)| *o == offset && *w == width && n == field.name),
            "docs/layout.md has no row `| {offset} | {width} | `{}` |` ({} section)",
            field.name,
            field.section
        );
    }
}

#[test]
fn the_layout_document_has_no_field_the_table_lacks() {
    let known: Vec<&str> = fields().iter().map(|field| field.name).collect();
    for (offset, width, name) in documented_fields() {
        if offset.chars().all(|c| c.is_ascii_digit() || c == '+') {
            assert!(
                known.contains(&name.as_str()),
                "docs/layout.md documents `{name}` at {offset} ({width} bytes), \
                 which docs/layout-golden.tsv lacks"
            );
        }
    }
}
