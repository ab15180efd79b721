/* SPSC throughput of the C API, one 8-byte message at a time between two
 * threads, zero-copy (reserve/commit, read/release) on a fixed-size ring of
 * 1024 slots: the loop of benches/src/bin/spsc_throughput.rs, through the C
 * API. benches/c-vs-rust.sh runs both alternately and reports the ratio.
 *
 * Usage: spsc_throughput [MESSAGES] (default 10,000,000); prints
 * `c messages=N seconds=S rate=R` (messages per second). The producer runs
 * on CPU 0 and the consumer on CPU 1, as in the Rust program. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmlane.h"

static uint64_t messages = 10000000;

static void fail(const char *what, shmlane_status status) {
    fprintf(stderr, "spsc_throughput: %s: %s\n", what, shmlane_last_error_message());
    exit((int)status);
}

/* Pins the calling thread to one CPU (best effort). */
static void pin_to_cpu(size_t cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *read_all(void *argument) {
    pin_to_cpu(1);
    shmlane_consumer_t *consumer = argument;
    uint64_t expected = 0;
    while (expected < messages) {
        const uint8_t *data;
        size_t len;
        shmlane_status status = shmlane_consumer_try_read(consumer, &data, &len);
        if (status == SHMLANE_STATUS_OK) {
            uint64_t value;
            memcpy(&value, data, sizeof value);
            if (value != expected) {
                fprintf(stderr, "out of order: %" PRIu64 " for %" PRIu64 "\n", value, expected);
                exit(1);
            }
            expected++;
            shmlane_consumer_release(consumer);
        } else if (status != SHMLANE_STATUS_EMPTY) {
            fail("read", status);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        messages = strtoull(argv[1], NULL, 10);
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/shmlane-spsc-throughput-c-%ld", (long)getpid());
    unlink(path);
    shmlane_ring_options_t options = shmlane_ring_options_spsc(1024, 8);
    options.fixed_size = 1;
    shmlane_ring_t *ring;
    shmlane_producer_t *producer;
    shmlane_consumer_t *consumer;
    shmlane_status status = shmlane_ring_create_at(path, &options, &ring);
    if (status != SHMLANE_STATUS_OK) fail("create", status);
    if ((status = shmlane_producer_open(ring, &producer)) != SHMLANE_STATUS_OK) fail("producer", status);
    if ((status = shmlane_consumer_open(ring, &consumer)) != SHMLANE_STATUS_OK) fail("consumer", status);

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pin_to_cpu(0);
    pthread_t reader;
    pthread_create(&reader, NULL, read_all, consumer);
    for (uint64_t next = 0; next < messages;) {
        uint8_t *slot;
        size_t capacity;
        status = shmlane_producer_try_reserve(producer, &slot, &capacity);
        if (status == SHMLANE_STATUS_OK) {
            memcpy(slot, &next, sizeof next);
            shmlane_producer_commit(producer, 8);
            next++;
        } else if (status != SHMLANE_STATUS_FULL) {
            fail("reserve", status);
        }
    }
    pthread_join(reader, NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    printf("c messages=%" PRIu64 " seconds=%.4f rate=%.0f\n", messages, seconds, (double)messages / seconds);
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    unlink(path);
    return 0;
}
