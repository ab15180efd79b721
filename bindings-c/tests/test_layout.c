/* The byte layout as C sees it: rings made through the C API are mapped raw
 * and every field of docs/layout-golden.tsv (the numbers of docs/layout.md,
 * checked against the Rust layout by ring/tests/layout_golden.rs) is read at
 * its offset and checked against what the API says. Every row of the golden
 * file must be used here, so a new field cannot go unchecked. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"

#define MAX_ROWS 256

struct row {
    char kind[8];
    char name[64];
    uint64_t value; /* offset of a field, value of a constant */
    uint64_t width;
    int used;
};

static struct row rows[MAX_ROWS];
static size_t row_count;

static void load_golden(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        exit(1);
    }
    char line[256];
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        CHECK(row_count < MAX_ROWS);
        struct row *row = &rows[row_count++];
        int fields = sscanf(line, "%7s %63s %" SCNu64 " %" SCNu64, row->kind, row->name,
                            &row->value, &row->width);
        CHECK((strcmp(row->kind, "field") == 0 && fields == 4) ||
              (strcmp(row->kind, "const") == 0 && fields == 3));
    }
    fclose(file);
    CHECK(row_count > 50);
}

static struct row *find(const char *kind, const char *name) {
    for (size_t i = 0; i < row_count; i++) {
        if (strcmp(rows[i].kind, kind) == 0 && strcmp(rows[i].name, name) == 0) {
            rows[i].used = 1;
            return &rows[i];
        }
    }
    fprintf(stderr, "docs/layout-golden.tsv has no %s %s\n", kind, name);
    exit(1);
}

static uint64_t constant(const char *name) { return find("const", name)->value; }

/* Reads the little-endian field `name` at `base` + its offset. */
static uint64_t field_at(const uint8_t *map, uint64_t base, const char *name) {
    struct row *row = find("field", name);
    uint64_t value = 0;
    for (uint64_t i = 0; i < row->width; i++) {
        value |= (uint64_t)map[base + row->value + i] << (8 * i);
    }
    return value;
}

static uint64_t header(const uint8_t *map, const char *name) {
    char full[80];
    snprintf(full, sizeof full, "header.%s", name);
    return field_at(map, 0, full);
}

static uint64_t record_field(const uint8_t *map, uint64_t index, const char *name) {
    char full[80];
    snprintf(full, sizeof full, "participant.%s", name);
    return field_at(map, constant("PARTICIPANTS_OFFSET") + index * constant("PARTICIPANT_RECORD_SIZE"), full);
}

static const uint8_t *map_file(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    *size = (size_t)st.st_size;
    void *map = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED);
    close(fd);
    return map;
}

static uint64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A consumer blocked in a sleeping read, in its own thread. */
struct sleeper {
    shmlane_consumer_t *consumer;
    shmlane_status status;
};

static void *sleep_for_a_message(void *argument) {
    struct sleeper *sleeper = argument;
    const uint8_t *data;
    size_t len;
    sleeper->status = shmlane_consumer_read(sleeper->consumer, 10ll * 1000 * 1000 * 1000, &data, &len);
    if (sleeper->status == SHMLANE_STATUS_OK) {
        sleeper->status = shmlane_consumer_release(sleeper->consumer);
    }
    return NULL;
}

static void check_spsc(void) {
    char path[256];
    scratch_path(path, sizeof path, "layout-spsc");
    shmlane_ring_options_t options = shmlane_ring_options_spsc(1024, 64);
    shmlane_ring_t *ring = NULL;
    uint64_t before = now_ns();
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    uint64_t after = now_ns();
    size_t size;
    const uint8_t *map = map_file(path, &size);

    uint64_t slots = constant("PARTICIPANTS_OFFSET") +
                     constant("SPSC_PARTICIPANTS") * constant("PARTICIPANT_RECORD_SIZE");
    CHECK(header(map, "magic") == constant("MAGIC"));
    CHECK(memcmp(map, "SHMLANE", 8) == 0);
    CHECK(header(map, "version_major") == constant("VERSION_MAJOR"));
    CHECK(header(map, "version_minor") == constant("VERSION_MINOR"));
    uint16_t major, minor;
    shmlane_layout_version(&major, &minor);
    CHECK(major == constant("VERSION_MAJOR") && minor == constant("VERSION_MINOR"));
    CHECK(header(map, "kind") == constant("KIND_SPSC"));
    CHECK(constant("KIND_SPSC") == SHMLANE_KIND_SPSC && constant("KIND_MPMC") == SHMLANE_KIND_MPMC);
    /* The C API opens no broadcast ring yet (its kind-erased handles refuse one
     * with SHMLANE_ERR_WRONG_KIND); the numbers are checked all the same. */
    CHECK(constant("KIND_BROADCAST") == 3);
    CHECK(constant("BROADCAST_SLOT_HEADER_SIZE") == constant("MPMC_SLOT_HEADER_SIZE"));
    CHECK(constant("BROADCAST_FIXED_SLOT_HEADER_SIZE") == constant("MPMC_FIXED_SLOT_HEADER_SIZE"));
    CHECK(constant("STAMP_WRITING") == (UINT64_C(1) << 63));
    CHECK(constant("SUBSCRIPTION_TETHERED") == 1 && constant("SUBSCRIPTION_UNTETHERED") == 2);
    CHECK(header(map, "line_size") == constant("LINE_SIZE"));
    CHECK(header(map, "slot_header_size") == constant("SPSC_SLOT_HEADER_SIZE"));
    CHECK(header(map, "capacity") == 1024);
    CHECK(header(map, "slot_size") == 64);
    CHECK(header(map, "max_payload") == 64 - constant("SPSC_SLOT_HEADER_SIZE"));
    CHECK(header(map, "max_payload") == shmlane_ring_max_payload(ring));
    CHECK(header(map, "producer_line_offset") == constant("PRODUCER_LINE_OFFSET"));
    CHECK(header(map, "consumer_line_offset") == constant("CONSUMER_LINE_OFFSET"));
    CHECK(header(map, "wait_lines_offset") == constant("WAIT_LINES_OFFSET"));
    CHECK(header(map, "participants_offset") == constant("PARTICIPANTS_OFFSET"));
    CHECK(header(map, "participant_count") == constant("SPSC_PARTICIPANTS"));
    CHECK(header(map, "participant_record_size") == constant("PARTICIPANT_RECORD_SIZE"));
    CHECK(header(map, "slots_offset") == slots);
    CHECK(header(map, "total_size") == slots + 1024 * 64);
    CHECK(header(map, "total_size") == size);
    CHECK(header(map, "flags") == 0);
    CHECK(header(map, "creator_pid") == (uint64_t)getpid());
    CHECK(header(map, "ready") == constant("READY"));
    CHECK(header(map, "creation_time_ns") >= before - 1000000000u &&
          header(map, "creation_time_ns") <= after + 1000000000u);
    /* The header hash: FNV-1a 64 of the bytes before it. */
    uint64_t hash = constant("FNV_OFFSET_BASIS");
    for (uint64_t i = 0; i < constant("HASHED_HEADER_BYTES"); i++) {
        hash = (hash ^ map[i]) * constant("FNV_PRIME");
    }
    CHECK(find("field", "header.layout_hash")->value == constant("HASHED_HEADER_BYTES"));
    CHECK(header(map, "layout_hash") == hash);
    CHECK(constant("HEADER_SIZE") == constant("PRODUCER_LINE_OFFSET"));
    CHECK(constant("DATA_WAIT_LINE_OFFSET") == constant("WAIT_LINES_OFFSET"));
    CHECK(constant("SPACE_WAIT_LINE_OFFSET") == constant("WAIT_LINES_OFFSET") + constant("LINE_SIZE"));
    CHECK(constant("MEMBERSHIP_LINE_OFFSET") == constant("SPACE_WAIT_LINE_OFFSET") + constant("LINE_SIZE"));

    /* Participant record 0 is the producer's. */
    shmlane_producer_t *producer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    uint64_t owner = record_field(map, 0, "owner");
    CHECK((owner & 0xff) == constant("STATE_ACTIVE"));
    CHECK(((owner >> 8) & 0xff) == constant("ROLE_PRODUCER"));
    CHECK((owner >> 32) == 1); /* the first claim */
    CHECK(record_field(map, 0, "pid") == (uint64_t)getpid());
    CHECK(record_field(map, 0, "joined_ns") >= before - 1000000000u);
    CHECK(record_field(map, 1, "owner") == constant("STATE_FREE"));

    /* Three messages: tail, then each slot's length field and payload. */
    const char *messages[] = {"alpha", "bravo!", "charlie"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(shmlane_producer_try_send(producer, messages[i], strlen(messages[i])));
    }
    CHECK(field_at(map, 0, "producer_line.tail") == 3);
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t slot = slots + i * 64;
        CHECK(field_at(map, slot, "spsc_slot.len") == strlen(messages[i]));
        CHECK(field_at(map, slot, "spsc_slot.flags") == 0);
        CHECK(memcmp(map + slot + constant("SPSC_SLOT_HEADER_SIZE"), messages[i], strlen(messages[i])) == 0);
    }

    /* The consumer: record 1, and its head after two reads. */
    shmlane_consumer_t *consumer = NULL;
    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    owner = record_field(map, 1, "owner");
    CHECK(((owner >> 8) & 0xff) == constant("ROLE_CONSUMER"));
    char buffer[64];
    size_t len;
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    CHECK(field_at(map, 0, "consumer_line.head") == 2);

    /* A sleeping read that times out counts a futex sleep on the data line,
     * registers the consumer there, and leaves its wait state registered. */
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
    CHECK_OK(shmlane_consumer_set_wait_strategy(consumer, &sleeping));
    const uint8_t *data;
    CHECK_STATUS(shmlane_consumer_read(consumer, 20 * 1000 * 1000, &data, &len), SHMLANE_STATUS_TIMEOUT);
    uint64_t line = constant("DATA_WAIT_LINE_OFFSET");
    shmlane_ring_info_t info;
    CHECK_OK(shmlane_ring_info(ring, &info));
    CHECK(info.data_waits.sleeps >= 1);
    CHECK(field_at(map, line, "wait_line.sleeps") == info.data_waits.sleeps);
    CHECK(field_at(map, line, "wait_line.wakes") == info.data_waits.wakes);
    CHECK(field_at(map, line, "wait_line.waiters") == 0);
    CHECK(field_at(map, line, "wait_line.wakes") == 0); /* nobody published, nobody woke it */
    CHECK(field_at(map, line, "wait_line.futex") == 0);
    /* A timed-out sleeper deregisters: the count is back to zero, the epoch
     * moved once for the registration and once for the deregistration. */
    CHECK(field_at(map, line, "wait_line.sleepers") == 0);
    CHECK(field_at(map, line, "wait_line.epoch") == 2);
    CHECK(record_field(map, 1, "wait_state") == 0);

    /* Now a sleeper that is woken: the consumer sleeps in another thread, the
     * producer publishes; the waker bumps the futex word once per wake-up and
     * counts it, so the two stay equal. */
    struct sleeper sleeper = {.consumer = consumer};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, sleep_for_a_message, &sleeper) == 0);
    for (int polls = 0; polls < 5000; polls++) {
        CHECK_OK(shmlane_ring_info(ring, &info));
        if (info.data_waits.waiters == 1) {
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
    }
    CHECK(info.data_waits.waiters == 1);
    CHECK(field_at(map, line, "wait_line.waiters") == 1);
    CHECK((record_field(map, 1, "wait_state") & constant("WAIT_STATE_WAITING")) != 0);
    CHECK_OK(shmlane_producer_try_send(producer, "wake", 4));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_OK(sleeper.status);
    CHECK(field_at(map, line, "wait_line.wakes") >= 1);
    CHECK(field_at(map, line, "wait_line.futex") == (field_at(map, line, "wait_line.wakes") & 0xffffffffu));
    CHECK(record_field(map, 0, "wake_ack") >= 3); /* the producer acknowledged the new registration */
    CHECK(constant("WAIT_STATE_REGISTERED") == 1 && constant("WAIT_STATE_WAITING") == 2);

    /* Broadcast's fields (layouts 2.1 and 2.2) and counters not yet used stay zero in an
     * SPSC ring; the claim range is MPMC's. */
    CHECK(field_at(map, 0, "producer_line.gate") == 0);
    CHECK(record_field(map, 0, "subscription") == 0 && record_field(map, 1, "subscription") == 0);
    CHECK(record_field(map, 0, "cursor") == 0);
    CHECK(record_field(map, 0, "messages") == 0);
    CHECK(record_field(map, 0, "bytes") == 0);
    CHECK(record_field(map, 0, "lost") == 0 && record_field(map, 1, "lost") == 0);
    CHECK(record_field(map, 0, "claim_start") == 0);
    CHECK(record_field(map, 0, "claim_end") == 0);

    shmlane_producer_close(producer);
    CHECK((record_field(map, 0, "owner") & 0xff) == constant("STATE_CLOSED"));
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    munmap((void *)map, size);
    CHECK_OK(shmlane_ring_remove_at(path));
}

static void check_mpmc(void) {
    char path[256];
    scratch_path(path, sizeof path, "layout-mpmc");
    /* Fixed-size: an 8-byte stamp and an 8-byte message per slot. */
    shmlane_ring_options_t options = shmlane_ring_options_mpmc(8, 16, 4);
    options.fixed_size = 1;
    shmlane_ring_t *ring = NULL;
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    size_t size;
    const uint8_t *map = map_file(path, &size);
    uint64_t slots = constant("PARTICIPANTS_OFFSET") + 4 * constant("PARTICIPANT_RECORD_SIZE");
    CHECK(header(map, "kind") == constant("KIND_MPMC"));
    CHECK(header(map, "flags") == constant("FLAG_FIXED_SIZE"));
    CHECK((header(map, "flags") & ~constant("KNOWN_FLAGS")) == 0);
    CHECK(header(map, "slot_header_size") == constant("MPMC_FIXED_SLOT_HEADER_SIZE"));
    CHECK(header(map, "max_payload") == 8);
    CHECK(header(map, "slots_offset") == slots);
    /* A fresh ring: slot i free for position i. */
    for (uint64_t i = 0; i < 8; i++) {
        CHECK(field_at(map, slots + i * 16, "mpmc_slot.stamp") == i);
    }
    shmlane_producer_t *producer = NULL;
    shmlane_consumer_t *consumer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK(field_at(map, 0, "membership.producer_joins") == 1);
    CHECK(field_at(map, 0, "membership.consumer_joins") == 0);
    uint64_t message = 0x1122334455667788u;
    CHECK_OK(shmlane_producer_try_send(producer, &message, 8));
    CHECK(field_at(map, slots, "mpmc_slot.stamp") == 1); /* committed: position + 1 */
    CHECK(memcmp(map + slots + constant("MPMC_FIXED_SLOT_HEADER_SIZE"), &message, 8) == 0);
    /* An abandoned reservation travels marked SKIP. */
    uint8_t *slot;
    size_t capacity;
    CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
    CHECK_OK(shmlane_producer_abort(producer));
    CHECK(field_at(map, slots + 16, "mpmc_slot.stamp") == (2 | constant("STAMP_SKIP")));
    CHECK(field_at(map, 0, "producer_line.tail") == 2);
    /* The producer (record 0) announced each claim before making it. */
    CHECK(record_field(map, 0, "claim_start") == 1 && record_field(map, 0, "claim_end") == 2);
    CHECK(field_at(map, 0, "membership.dropped_claims") == 0);
    CHECK(field_at(map, 0, "membership.lost_messages") == 0);

    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    CHECK(field_at(map, 0, "membership.consumer_joins") == 1);
    uint64_t received = 0;
    size_t len;
    CHECK_OK(shmlane_consumer_try_recv(consumer, &received, sizeof received, &len));
    CHECK(len == 8 && received == message);
    /* Released: free for the same slot's next lap. */
    CHECK(field_at(map, slots, "mpmc_slot.stamp") == 0 + 8);
    CHECK(field_at(map, 0, "consumer_line.head") == 1);
    CHECK(record_field(map, 1, "claim_start") == 0 && record_field(map, 1, "claim_end") == 1);
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, &received, sizeof received, &len), SHMLANE_STATUS_EMPTY);
    CHECK(field_at(map, slots + 16, "mpmc_slot.stamp") == 1 + 8); /* the skipped slot, released */
    /* The consumer (record 1) claimed the skipped slot last; finding nothing
     * after it claimed nothing, so its range stays that of its last claim. */
    CHECK(record_field(map, 1, "claim_start") == 1 && record_field(map, 1, "claim_end") == 2);
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    munmap((void *)map, size);
    CHECK_OK(shmlane_ring_remove_at(path));

    /* A variable-length MPMC slot: stamp, then length and flags. */
    scratch_path(path, sizeof path, "layout-mpmc-var");
    options = shmlane_ring_options_mpmc(4, 32, 2);
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    map = map_file(path, &size);
    slots = constant("PARTICIPANTS_OFFSET") + 2 * constant("PARTICIPANT_RECORD_SIZE");
    CHECK(header(map, "slot_header_size") == constant("MPMC_SLOT_HEADER_SIZE"));
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_OK(shmlane_producer_try_send(producer, "mpmc", 4));
    CHECK(field_at(map, slots, "mpmc_slot.len") == 4);
    CHECK(field_at(map, slots, "mpmc_slot.flags") == 0);
    CHECK(memcmp(map + slots + constant("MPMC_SLOT_HEADER_SIZE"), "mpmc", 4) == 0);
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    munmap((void *)map, size);
    CHECK_OK(shmlane_ring_remove_at(path));
}

/* A broadcast ring that overwrites: its flag, and the lost count of an
 * untethered subscriber it lapped. */
static void check_broadcast_overwrite(void) {
    char path[256];
    scratch_path(path, sizeof path, "layout-overwrite");
    shmlane_ring_options_t options = shmlane_ring_options_broadcast(4, 32, 2);
    options.overwrite = 1;
    shmlane_ring_t *ring = NULL;
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    size_t size;
    const uint8_t *map = map_file(path, &size);
    CHECK(header(map, "kind") == constant("KIND_BROADCAST"));
    CHECK(header(map, "flags") == constant("FLAG_OVERWRITE"));
    CHECK((header(map, "flags") & ~constant("KNOWN_FLAGS")) == 0);
    shmlane_broadcast_producer_t *producer = NULL;
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    shmlane_subscriber_options_t tethered = shmlane_subscriber_options_default();
    shmlane_subscriber_t *subscriber = NULL;
    CHECK_STATUS(shmlane_subscriber_open(ring, &tethered, &subscriber), SHMLANE_STATUS_WRONG_KIND);
    shmlane_subscriber_options_t untethered = shmlane_subscriber_options_default();
    untethered.untethered = 1;
    CHECK_OK(shmlane_subscriber_open(ring, &untethered, &subscriber));
    for (uint64_t i = 0; i < 10; i++) {
        CHECK_OK(shmlane_broadcast_producer_try_send(producer, &i, sizeof i));
    }
    uint8_t buffer[16];
    size_t len = 0;
    uint64_t lost = 0;
    CHECK_STATUS(shmlane_subscriber_try_recv(subscriber, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_LAGGED);
    CHECK(lost == 7); /* the oldest intact one is 10 - 4 + 1 */
    /* The subscriber took the first free subscriber record, 1. */
    CHECK(record_field(map, 1, "lost") == 7);
    CHECK(record_field(map, 1, "subscription") == constant("SUBSCRIPTION_UNTETHERED"));
    CHECK(record_field(map, 1, "cursor") == 7);
    shmlane_subscriber_close(subscriber);
    shmlane_broadcast_producer_close(producer);
    munmap((void *)map, size);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));

    /* Only a broadcast ring can overwrite. */
    options = shmlane_ring_options_spsc(4, 32);
    options.overwrite = 1;
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
}

/* Limits the C API enforces, at the golden numbers. */
static void check_limits(void) {
    char path[256];
    scratch_path(path, sizeof path, "layout-limits");
    shmlane_ring_t *ring = NULL;
    shmlane_ring_options_t options = shmlane_ring_options_spsc(constant("MIN_CAPACITY") / 2, 64);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(constant("MAX_CAPACITY") * 2, 64);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(4, constant("SPSC_SLOT_HEADER_SIZE") + constant("MIN_MAX_PAYLOAD") - 8);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(2, constant("MAX_SLOT_SIZE") * 2);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(1u << 20, 1u << 21); /* 2^41 bytes */
    CHECK(((uint64_t)1 << 41) > constant("MAX_TOTAL_SIZE"));
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_mpmc(4, 64, (uint32_t)constant("MAX_PARTICIPANTS") + 1);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_mpmc(4, 64, (uint32_t)constant("MAX_PARTICIPANTS"));
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));

    /* A fixed-size SPSC slot is all payload. */
    options = shmlane_ring_options_spsc(4, 16);
    options.fixed_size = 1;
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    size_t size;
    const uint8_t *map = map_file(path, &size);
    CHECK(header(map, "slot_header_size") == constant("SPSC_FIXED_SLOT_HEADER_SIZE"));
    CHECK(header(map, "max_payload") == 16);
    munmap((void *)map, size);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

int main(void) {
    alarm(120); /* a hang fails the test instead of stalling it */
    load_golden("docs/layout-golden.tsv");
    check_spsc();
    check_mpmc();
    check_broadcast_overwrite();
    check_limits();
    int unused = 0;
    for (size_t i = 0; i < row_count; i++) {
        if (!rows[i].used) {
            fprintf(stderr, "docs/layout-golden.tsv: %s %s is not checked by %s\n", rows[i].kind,
                    rows[i].name, __FILE__);
            unused++;
        }
    }
    CHECK(unused == 0);
    report("layout");
    return 0;
}
