/* The loop of benches/src/bin/instr_loop.rs through the C API, for
 * benches/instructions.sh: push one message, then pop it, COUNT times, on
 * one ring of 1024 slots, single thread.
 *
 * Usage: instr_loop CASE PATH COUNT, where CASE is
 * {spsc,mpmc}-{zero-copy,copy}[-fixed]-{8,64}B (as in the Rust program) and
 * PATH a file that does not exist yet; the ring is created there and
 * unlinked at once (the mapping stays valid), so nothing is left behind.
 *
 * zero-copy: shmlane_producer_try_reserve, write in place,
 * shmlane_producer_commit; shmlane_consumer_try_read, read in place,
 * shmlane_consumer_release. copy: shmlane_producer_try_send,
 * shmlane_consumer_try_recv. Each message carries its sequence number in
 * its first 8 bytes; the consumer sums them, and the sum is checked after
 * the loop (the calls are into the library, so none can be left out). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlane.h"

#define CAPACITY 1024

static void fail(const char *what, shmlane_status status) {
    fprintf(stderr, "instr_loop: %s: %s (%s)\n", what, shmlane_strerror(status),
            shmlane_last_error_message());
    exit(1);
}

static void check(const char *what, shmlane_status status) {
    if (status != SHMLANE_STATUS_OK) fail(what, status);
}

static uint64_t sequence(const uint8_t *message) {
    uint64_t value;
    memcpy(&value, message, sizeof value);
    return value;
}

static uint64_t zero_copy_loop(shmlane_producer_t *producer, shmlane_consumer_t *consumer,
                               size_t size, uint64_t count) {
    uint64_t sum = 0;
    uint8_t message[64] = {0};
    for (uint64_t next = 0; next < count; next++) {
        memcpy(message, &next, sizeof next);
        uint8_t *slot;
        size_t capacity;
        check("reserve", shmlane_producer_try_reserve(producer, &slot, &capacity));
        memcpy(slot, message, size);
        check("commit", shmlane_producer_commit(producer, size));
        const uint8_t *incoming;
        size_t len;
        check("read", shmlane_consumer_try_read(consumer, &incoming, &len));
        sum += sequence(incoming);
        check("release", shmlane_consumer_release(consumer));
    }
    return sum;
}

static uint64_t copy_loop(shmlane_producer_t *producer, shmlane_consumer_t *consumer,
                          size_t size, uint64_t count) {
    uint64_t sum = 0;
    uint8_t message[64] = {0};
    uint8_t buffer[64];
    for (uint64_t next = 0; next < count; next++) {
        memcpy(message, &next, sizeof next);
        check("send", shmlane_producer_try_send(producer, message, size));
        size_t len;
        check("recv", shmlane_consumer_try_recv(consumer, buffer, size, &len));
        sum += sequence(buffer);
    }
    return sum;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: instr_loop CASE PATH COUNT\n");
        return 2;
    }
    const char *name = argv[1];
    const char *path = argv[2];
    uint64_t count = strtoull(argv[3], NULL, 10);

    int mpmc = strncmp(name, "mpmc-", 5) == 0;
    if (!mpmc && strncmp(name, "spsc-", 5) != 0) {
        fprintf(stderr, "instr_loop: unknown case %s\n", name);
        return 2;
    }
    int copy = strncmp(name + 5, "copy-", 5) == 0;
    int fixed = strstr(name, "-fixed-") != NULL;
    size_t size = strcmp(name + strlen(name) - 4, "-64B") == 0 ? 64 : 8;

    /* Slot headers: SPSC 8 bytes (none when fixed-size), MPMC 16 (8 when
     * fixed-size), so that the maximum payload is exactly the message. */
    uint64_t header = mpmc ? (fixed ? 8 : 16) : (fixed ? 0 : 8);
    shmlane_ring_options_t options = mpmc ? shmlane_ring_options_mpmc(CAPACITY, size + header, 2)
                                          : shmlane_ring_options_spsc(CAPACITY, size + header);
    options.fixed_size = (uint8_t)fixed;
    shmlane_ring_t *ring;
    shmlane_producer_t *producer;
    shmlane_consumer_t *consumer;
    check("create", shmlane_ring_create_at(path, &options, &ring));
    check("remove", shmlane_ring_remove_at(path));
    if (shmlane_ring_max_payload(ring) != size) {
        fprintf(stderr, "instr_loop: max payload %zu, not %zu\n", shmlane_ring_max_payload(ring), size);
        return 1;
    }
    check("producer", shmlane_producer_open(ring, &producer));
    check("consumer", shmlane_consumer_open(ring, &consumer));

    uint64_t sum = copy ? copy_loop(producer, consumer, size, count)
                        : zero_copy_loop(producer, consumer, size, count);

    shmlane_consumer_close(consumer);
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    uint64_t expected = count == 0 ? 0 : count * (count - 1) / 2;
    if (sum != expected) {
        fprintf(stderr, "instr_loop: sum %" PRIu64 ", expected %" PRIu64 ": lost a message\n",
                sum, expected);
        return 1;
    }
    return 0;
}
