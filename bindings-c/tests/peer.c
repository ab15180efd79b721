/* shmlane-peer-c: the C member of the cross-language test peers. The command
 * line and the message format are those of conformance/README.md, shared
 * with the Rust and Go peers; conformance/tests/matrix.rs runs them all
 * against each other. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmlane.h"

enum wait_mode { WAIT_TRY, WAIT_BLOCK, WAIT_SLEEP };
enum { MIN_SIZE = 24, MAX_PRODUCER_ID = 1024 };
/* Blocking calls wait this long at a time, then look again. */
static const int64_t BLOCK_FOR_NS = 1000 * 1000 * 1000;

struct options {
    const char *path;
    const char *kind;
    uint64_t capacity, slot_size, participants, count, id, size, batch, stop_after, producers;
    int fixed, die_holding;
    enum wait_mode wait;
};

static void usage(const char *why) {
    fprintf(stderr, "shmlane-peer-c: %s\n", why);
    exit(2);
}

static void fail(const char *what, shmlane_status status) {
    fprintf(stderr, "shmlane-peer-c: %s: %s (%s)\n", what, shmlane_strerror(status), shmlane_last_error_message());
    exit(1);
}

static uint64_t number(const char *text, const char *name) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end || !*text) {
        fprintf(stderr, "shmlane-peer-c: --%s takes a number, not %s\n", name, text);
        exit(2);
    }
    return value;
}

static struct options parse(int argc, char **argv) {
    struct options o = {.participants = 8, .size = 64, .batch = 1, .stop_after = UINT64_MAX,
                        .count = UINT64_MAX, .id = UINT64_MAX, .wait = WAIT_TRY};
    for (int i = 2; i < argc; i++) {
        const char *name = argv[i];
        if (strncmp(name, "--", 2) != 0) {
            usage("unexpected argument");
        }
        name += 2;
        if (strcmp(name, "fixed") == 0) {
            o.fixed = 1;
            continue;
        }
        if (strcmp(name, "die-holding") == 0) {
            o.die_holding = 1;
            continue;
        }
        if (i + 1 >= argc) {
            usage("an option needs a value");
        }
        const char *value = argv[++i];
        if (strcmp(name, "path") == 0) o.path = value;
        else if (strcmp(name, "kind") == 0) o.kind = value;
        else if (strcmp(name, "capacity") == 0) o.capacity = number(value, name);
        else if (strcmp(name, "slot-size") == 0) o.slot_size = number(value, name);
        else if (strcmp(name, "participants") == 0) o.participants = number(value, name);
        else if (strcmp(name, "count") == 0) o.count = number(value, name);
        else if (strcmp(name, "id") == 0) o.id = number(value, name);
        else if (strcmp(name, "size") == 0) o.size = number(value, name);
        else if (strcmp(name, "batch") == 0) o.batch = number(value, name);
        else if (strcmp(name, "stop-after") == 0) o.stop_after = number(value, name);
        else if (strcmp(name, "producers") == 0) o.producers = number(value, name);
        else if (strcmp(name, "wait") == 0) {
            if (strcmp(value, "try") == 0) o.wait = WAIT_TRY;
            else if (strcmp(value, "block") == 0) o.wait = WAIT_BLOCK;
            else if (strcmp(value, "sleep") == 0) o.wait = WAIT_SLEEP;
            else usage("--wait takes try, block or sleep");
        } else {
            usage("unknown option");
        }
    }
    if (!o.path) {
        usage("--path is required");
    }
    if (o.batch == 0) {
        o.batch = 1;
    }
    return o;
}

/* The message format of conformance/README.md. */
static uint64_t fnv1a(const uint8_t *bytes, size_t len) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ bytes[i]) * 0x100000001b3u;
    }
    return hash;
}

static void put_u64(uint8_t *at, uint64_t value) {
    for (int i = 0; i < 8; i++) at[i] = (uint8_t)(value >> (8 * i));
}
static void put_u32(uint8_t *at, uint32_t value) {
    for (int i = 0; i < 4; i++) at[i] = (uint8_t)(value >> (8 * i));
}
static uint64_t get_u64(const uint8_t *at) {
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) value |= (uint64_t)at[i] << (8 * i);
    return value;
}
static uint32_t get_u32(const uint8_t *at) {
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) value |= (uint32_t)at[i] << (8 * i);
    return value;
}
static uint8_t filler(uint64_t sequence, size_t offset) { return (uint8_t)((sequence * 31 + offset) & 0xff); }

static void write_message(uint8_t *out, size_t size, uint64_t sequence, uint32_t producer) {
    put_u64(out, sequence);
    put_u32(out + 8, producer);
    put_u32(out + 12, (uint32_t)size);
    for (size_t i = 16; i < size - 8; i++) out[i] = filler(sequence, i);
    put_u64(out + size - 8, fnv1a(out, size - 8));
}

struct seen {
    uint64_t count, first, last, sequence_sum;
};
static struct seen seen[MAX_PRODUCER_ID];
static uint64_t total, distinct;

static void check_message(const uint8_t *message, size_t size) {
    if (size < MIN_SIZE) {
        fprintf(stderr, "shmlane-peer-c: message of %zu bytes\n", size);
        exit(1);
    }
    uint64_t sequence = get_u64(message);
    uint32_t producer = get_u32(message + 8);
    if (get_u32(message + 12) != size || fnv1a(message, size - 8) != get_u64(message + size - 8)) {
        fprintf(stderr, "shmlane-peer-c: message %" PRIu64 " of producer %u: bad length or checksum\n", sequence,
                producer);
        exit(1);
    }
    for (size_t i = 16; i < size - 8; i++) {
        if (message[i] != filler(sequence, i)) {
            fprintf(stderr, "shmlane-peer-c: message %" PRIu64 ": filler wrong at %zu\n", sequence, i);
            exit(1);
        }
    }
    if (producer >= MAX_PRODUCER_ID) {
        fprintf(stderr, "shmlane-peer-c: producer id %u out of range\n", producer);
        exit(1);
    }
    struct seen *s = &seen[producer];
    if (s->count > 0 && sequence <= s->last) {
        fprintf(stderr, "shmlane-peer-c: producer %u: sequence %" PRIu64 " after %" PRIu64 "\n", producer, sequence,
                s->last);
        exit(1);
    }
    if (s->count == 0) {
        s->first = sequence;
        distinct++;
    }
    s->count++;
    s->last = sequence;
    s->sequence_sum += sequence;
    total++;
}

/* The reference value of conformance/README.md. */
static void self_test(void) {
    uint8_t message[32];
    write_message(message, sizeof message, 1, 2);
    if (message[16] != 47 || message[23] != 54 || get_u64(message + 24) != 0x4e3fd23bb712e37eu) {
        fprintf(stderr, "shmlane-peer-c: the reference message does not check\n");
        exit(1);
    }
}

static shmlane_ring_t *open_ring(const char *path) {
    shmlane_open_options_t options = shmlane_open_options_default();
    options.ready_timeout_ns = 10u * 1000 * 1000 * 1000;
    shmlane_ring_t *ring = NULL;
    shmlane_status status = shmlane_ring_open_with(NULL, path, &options, &ring);
    if (status != SHMLANE_STATUS_OK) fail("open", status);
    return ring;
}

static int create(const struct options *o) {
    if (!o->kind || !o->capacity || !o->slot_size) usage("create needs --kind, --capacity and --slot-size");
    shmlane_ring_options_t options;
    if (strcmp(o->kind, "spsc") == 0) options = shmlane_ring_options_spsc(o->capacity, o->slot_size);
    else if (strcmp(o->kind, "mpmc") == 0)
        options = shmlane_ring_options_mpmc(o->capacity, o->slot_size, (uint32_t)o->participants);
    else usage("--kind takes spsc or mpmc");
    options.fixed_size = (uint8_t)o->fixed;
    shmlane_ring_t *ring = NULL;
    shmlane_status status = shmlane_ring_create_at(o->path, &options, &ring);
    if (status != SHMLANE_STATUS_OK) fail("create", status);
    shmlane_ring_close(ring);
    return 0;
}

static int produce(const struct options *o) {
    if (o->count == UINT64_MAX || o->id >= MAX_PRODUCER_ID) usage("produce needs --count and --id 0..1023");
    if (o->size < MIN_SIZE) usage("--size is at least 24");
    shmlane_ring_t *ring = open_ring(o->path);
    if (o->size > shmlane_ring_max_payload(ring)) usage("--size exceeds the ring's maximum payload");
    shmlane_producer_t *producer = NULL;
    shmlane_status status = shmlane_producer_open(ring, &producer);
    if (status != SHMLANE_STATUS_OK) fail("join", status);
    if (o->wait == WAIT_SLEEP) {
        shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
        shmlane_producer_set_wait_strategy(producer, &sleeping);
    }
    size_t size = (size_t)o->size;
    uint64_t next = 0;
    while (next < o->count) {
        uint64_t wanted = o->count - next < o->batch ? o->count - next : o->batch;
        if (wanted == 1) {
            uint8_t *slot;
            size_t capacity;
            status = o->wait == WAIT_TRY ? shmlane_producer_try_reserve(producer, &slot, &capacity)
                                         : shmlane_producer_reserve(producer, BLOCK_FOR_NS, &slot, &capacity);
            if (status == SHMLANE_STATUS_OK) {
                write_message(slot, size, next, (uint32_t)o->id);
                status = shmlane_producer_commit(producer, size);
                if (status != SHMLANE_STATUS_OK) fail("commit", status);
                next++;
                continue;
            }
        } else {
            size_t count;
            status = o->wait == WAIT_TRY ? shmlane_producer_try_reserve_batch(producer, (size_t)wanted, &count)
                                         : shmlane_producer_reserve_batch(producer, (size_t)wanted, BLOCK_FOR_NS, &count);
            if (status == SHMLANE_STATUS_OK) {
                for (size_t i = 0; i < count; i++) {
                    uint8_t *slot;
                    size_t capacity;
                    status = shmlane_producer_batch_slot(producer, i, &slot, &capacity);
                    if (status != SHMLANE_STATUS_OK) fail("batch slot", status);
                    write_message(slot, size, next + i, (uint32_t)o->id);
                    status = shmlane_producer_batch_set_len(producer, i, size);
                    if (status != SHMLANE_STATUS_OK) fail("batch length", status);
                }
                status = shmlane_producer_batch_commit(producer, SIZE_MAX);
                if (status != SHMLANE_STATUS_OK) fail("batch commit", status);
                next += count;
                continue;
            }
        }
        if (status == SHMLANE_STATUS_FULL) sched_yield();
        else if (status != SHMLANE_STATUS_TIMEOUT) fail("reserve", status);
    }
    if (o->die_holding) {
        /* Write the next message whole but never commit it; wait to be killed. */
        uint8_t *slot;
        size_t capacity;
        do {
            status = shmlane_producer_reserve(producer, BLOCK_FOR_NS, &slot, &capacity);
        } while (status == SHMLANE_STATUS_TIMEOUT);
        if (status != SHMLANE_STATUS_OK) fail("reserve", status);
        write_message(slot, size, o->count, (uint32_t)o->id);
        printf("holding id=%" PRIu64 " count=%" PRIu64 "\n", o->id, o->count);
        fflush(stdout);
        for (;;) pause();
    }
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    printf("produced id=%" PRIu64 " count=%" PRIu64 "\n", o->id, o->count);
    return 0;
}

static int consume(const struct options *o) {
    shmlane_ring_t *ring = open_ring(o->path);
    shmlane_consumer_t *consumer = NULL;
    shmlane_status status = shmlane_consumer_open(ring, &consumer);
    if (status != SHMLANE_STATUS_OK) fail("join", status);
    if (o->wait == WAIT_SLEEP) {
        shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
        shmlane_consumer_set_wait_strategy(consumer, &sleeping);
    }
    const char *end = "stopped";
    while (total < o->stop_after) {
        uint64_t wanted = o->stop_after - total < o->batch ? o->stop_after - total : o->batch;
        const uint8_t *data;
        size_t len;
        if (wanted == 1) {
            status = o->wait == WAIT_TRY ? shmlane_consumer_try_read(consumer, &data, &len)
                                         : shmlane_consumer_read(consumer, BLOCK_FOR_NS, &data, &len);
            if (status == SHMLANE_STATUS_OK) {
                check_message(data, len);
                shmlane_consumer_release(consumer);
                continue;
            }
        } else {
            size_t count;
            status = o->wait == WAIT_TRY ? shmlane_consumer_try_read_batch(consumer, (size_t)wanted, &count)
                                         : shmlane_consumer_read_batch(consumer, (size_t)wanted, BLOCK_FOR_NS, &count);
            if (status == SHMLANE_STATUS_OK) {
                for (size_t i = 0; i < count; i++) {
                    status = shmlane_consumer_batch_message(consumer, i, &data, &len);
                    if (status != SHMLANE_STATUS_OK) fail("batch message", status);
                    check_message(data, len);
                }
                shmlane_consumer_release(consumer);
                continue;
            }
        }
        if (status == SHMLANE_STATUS_DISCONNECTED) {
            if (distinct >= o->producers) {
                end = "disconnected";
                break;
            }
            /* Not every producer has been heard from: one may not have joined yet. */
            nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
        } else if (status == SHMLANE_STATUS_EMPTY) {
            sched_yield();
        } else if (status != SHMLANE_STATUS_TIMEOUT) {
            fail("read", status);
        }
    }
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    for (int p = 0; p < MAX_PRODUCER_ID; p++) {
        if (seen[p].count) {
            printf("producer=%d count=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64 " seqsum=%" PRIu64 "\n", p,
                   seen[p].count, seen[p].first, seen[p].last, seen[p].sequence_sum);
        }
    }
    printf("consumed total=%" PRIu64 " end=%s\n", total, end);
    return 0;
}

int main(int argc, char **argv) {
    self_test();
    if (argc < 2) usage("missing command: create, produce or consume");
    struct options o = parse(argc, argv);
    if (strcmp(argv[1], "create") == 0) return create(&o);
    if (strcmp(argv[1], "produce") == 0) return produce(&o);
    if (strcmp(argv[1], "consume") == 0) return consume(&o);
    usage("unknown command");
    return 2;
}
