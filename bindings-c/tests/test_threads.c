/* Traffic between threads through the C API: sequence-numbered, checksummed
 * messages, zero-copy single and batch forms, spinning and sleeping waits,
 * SPSC and MPMC. Every message must arrive exactly once, in order per
 * producer, with its checksum. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "check.h"

enum { MESSAGE_SIZE = 48, MAX_PRODUCERS = 4 };

struct message {
    uint64_t sequence;
    uint32_t producer;
    uint32_t length;
    uint64_t filler[3];
    uint64_t checksum;
};
_Static_assert(sizeof(struct message) == MESSAGE_SIZE, "message layout");

static uint64_t checksum_of(const struct message *message) {
    return message->sequence * 0x9E3779B97F4A7C15u ^ message->producer ^ message->filler[0] ^
           message->filler[1] ^ message->filler[2];
}

static void fill(struct message *message, uint64_t sequence, uint32_t producer) {
    message->sequence = sequence;
    message->producer = producer;
    message->length = MESSAGE_SIZE;
    for (int i = 0; i < 3; i++) {
        message->filler[i] = sequence + (uint64_t)i * 7919u;
    }
    message->checksum = checksum_of(message);
}

/* How the threads wait: non-blocking calls retried after a yield, or the
 * blocking calls with the sleeping or the spinning strategy. */
enum wait_mode { TRY, SLEEPING, SPINNING };

struct run {
    shmlane_ring_t *ring;
    uint64_t count;   /* messages per producer */
    size_t batch;     /* 1: single calls */
    enum wait_mode wait;
    uint32_t producer_id;
    /* consumer results */
    uint64_t received[MAX_PRODUCERS];
    uint64_t sequence_sum[MAX_PRODUCERS];
    int failed;
};

static void *produce(void *argument) {
    struct run *run = argument;
    shmlane_producer_t *producer = NULL;
    if (shmlane_producer_open(run->ring, &producer) != SHMLANE_STATUS_OK) {
        run->failed = 1;
        return NULL;
    }
    if (run->wait != TRY) {
        shmlane_wait_strategy_t strategy =
            run->wait == SLEEPING ? shmlane_wait_strategy_sleeping() : shmlane_wait_strategy_spinning();
        if (shmlane_producer_set_wait_strategy(producer, &strategy) != SHMLANE_STATUS_OK) {
            run->failed = 1;
        }
    }
    uint64_t next = 0;
    while (next < run->count) {
        if (run->batch == 1) {
            uint8_t *slot;
            size_t capacity;
            shmlane_status status = run->wait != TRY
                                        ? shmlane_producer_reserve(producer, SHMLANE_FOREVER, &slot, &capacity)
                                        : shmlane_producer_try_reserve(producer, &slot, &capacity);
            if (status == SHMLANE_STATUS_FULL) {
                sched_yield();
                continue;
            }
            if (status != SHMLANE_STATUS_OK || capacity < MESSAGE_SIZE) {
                run->failed = 1;
                break;
            }
            struct message message;
            fill(&message, next, run->producer_id);
            memcpy(slot, &message, MESSAGE_SIZE);
            if (shmlane_producer_commit(producer, MESSAGE_SIZE) != SHMLANE_STATUS_OK) {
                run->failed = 1;
                break;
            }
            next++;
        } else {
            size_t count;
            size_t wanted = run->count - next < run->batch ? (size_t)(run->count - next) : run->batch;
            shmlane_status status = run->wait != TRY
                                        ? shmlane_producer_reserve_batch(producer, wanted, SHMLANE_FOREVER, &count)
                                        : shmlane_producer_try_reserve_batch(producer, wanted, &count);
            if (status == SHMLANE_STATUS_FULL) {
                sched_yield();
                continue;
            }
            if (status != SHMLANE_STATUS_OK) {
                run->failed = 1;
                break;
            }
            for (size_t i = 0; i < count; i++) {
                uint8_t *slot;
                size_t capacity;
                struct message message;
                fill(&message, next + i, run->producer_id);
                if (shmlane_producer_batch_slot(producer, i, &slot, &capacity) != SHMLANE_STATUS_OK ||
                    shmlane_producer_batch_set_len(producer, i, MESSAGE_SIZE) != SHMLANE_STATUS_OK) {
                    run->failed = 1;
                    break;
                }
                memcpy(slot, &message, MESSAGE_SIZE);
            }
            if (run->failed || shmlane_producer_batch_commit(producer, SIZE_MAX) != SHMLANE_STATUS_OK) {
                run->failed = 1;
                break;
            }
            next += count;
        }
    }
    shmlane_producer_close(producer);
    return NULL;
}

/* Checks one message; per-producer sequence numbers must increase. */
static int take(struct run *run, uint64_t *last_plus_one, const uint8_t *data, size_t len) {
    struct message message;
    if (len != MESSAGE_SIZE) {
        return 0;
    }
    memcpy(&message, data, MESSAGE_SIZE);
    if (message.producer >= MAX_PRODUCERS || message.checksum != checksum_of(&message) ||
        message.length != MESSAGE_SIZE || message.sequence < last_plus_one[message.producer]) {
        return 0;
    }
    last_plus_one[message.producer] = message.sequence + 1;
    run->received[message.producer]++;
    run->sequence_sum[message.producer] += message.sequence;
    return 1;
}

static void *consume(void *argument) {
    struct run *run = argument;
    shmlane_consumer_t *consumer = NULL;
    if (shmlane_consumer_open(run->ring, &consumer) != SHMLANE_STATUS_OK) {
        run->failed = 1;
        return NULL;
    }
    if (run->wait != TRY) {
        shmlane_wait_strategy_t strategy =
            run->wait == SLEEPING ? shmlane_wait_strategy_sleeping() : shmlane_wait_strategy_spinning();
        if (shmlane_consumer_set_wait_strategy(consumer, &strategy) != SHMLANE_STATUS_OK) {
            run->failed = 1;
        }
    }
    uint64_t last_plus_one[MAX_PRODUCERS] = {0};
    for (;;) {
        shmlane_status status;
        const uint8_t *data;
        size_t len;
        if (run->batch == 1) {
            status = run->wait != TRY ? shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len)
                                   : shmlane_consumer_try_read(consumer, &data, &len);
            if (status == SHMLANE_STATUS_OK) {
                run->failed |= !take(run, last_plus_one, data, len);
                run->failed |= shmlane_consumer_release(consumer) != SHMLANE_STATUS_OK;
            }
        } else {
            size_t count;
            status = run->wait != TRY ? shmlane_consumer_read_batch(consumer, run->batch, SHMLANE_FOREVER, &count)
                                   : shmlane_consumer_try_read_batch(consumer, run->batch, &count);
            if (status == SHMLANE_STATUS_OK) {
                for (size_t i = 0; i < count; i++) {
                    if (shmlane_consumer_batch_message(consumer, i, &data, &len) != SHMLANE_STATUS_OK) {
                        run->failed = 1;
                        break;
                    }
                    run->failed |= !take(run, last_plus_one, data, len);
                }
                run->failed |= shmlane_consumer_release(consumer) != SHMLANE_STATUS_OK;
            }
        }
        if (status == SHMLANE_STATUS_EMPTY) {
            sched_yield();
        } else if (status == SHMLANE_STATUS_DISCONNECTED) {
            break;
        } else if (status != SHMLANE_STATUS_OK) {
            fprintf(stderr, "consumer: %s\n", shmlane_last_error_message());
            run->failed = 1;
            break;
        }
    }
    shmlane_consumer_close(consumer);
    return NULL;
}

/* Runs `producers` producer threads and `consumers` consumer threads over a
 * fresh ring and checks exactly-once delivery. Consumers start first and stop
 * at DISCONNECTED, so producers are joined to the ring before they start. */
static void exchange(shmlane_ring_options_t options, int producers, int consumers, uint64_t count,
                     size_t batch, enum wait_mode wait) {
    char path[256];
    scratch_path(path, sizeof path, "threads");
    shmlane_ring_t *ring = NULL;
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    struct run producer_runs[MAX_PRODUCERS], consumer_runs[MAX_PRODUCERS];
    pthread_t producer_threads[MAX_PRODUCERS], consumer_threads[MAX_PRODUCERS];
    /* MPMC: hold a producer handle until every producer is done, so that
     * consumers cannot see "all producers gone" before the last one joined.
     * (An SPSC consumer that starts first sees an empty ring, not a gone one.) */
    shmlane_producer_t *holder = NULL;
    if (options.kind == SHMLANE_KIND_MPMC) {
        CHECK_OK(shmlane_producer_open(ring, &holder));
    }
    for (int i = 0; i < consumers; i++) {
        consumer_runs[i] = (struct run){.ring = ring, .count = count, .batch = batch, .wait = wait};
        CHECK(pthread_create(&consumer_threads[i], NULL, consume, &consumer_runs[i]) == 0);
    }
    for (int i = 0; i < producers; i++) {
        producer_runs[i] = (struct run){
            .ring = ring, .count = count, .batch = batch, .wait = wait, .producer_id = (uint32_t)i};
        CHECK(pthread_create(&producer_threads[i], NULL, produce, &producer_runs[i]) == 0);
    }
    for (int i = 0; i < producers; i++) {
        CHECK(pthread_join(producer_threads[i], NULL) == 0);
        CHECK(!producer_runs[i].failed);
    }
    shmlane_producer_close(holder);
    for (int i = 0; i < consumers; i++) {
        CHECK(pthread_join(consumer_threads[i], NULL) == 0);
        CHECK(!consumer_runs[i].failed);
    }
    for (int p = 0; p < producers; p++) {
        uint64_t received = 0, sum = 0;
        for (int c = 0; c < consumers; c++) {
            received += consumer_runs[c].received[p];
            sum += consumer_runs[c].sequence_sum[p];
        }
        CHECK(received == count);
        CHECK(sum == count * (count - 1) / 2);
    }
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

int main(void) {
    /* A hang (a producer that never joined leaves its consumer waiting)
     * fails the test instead of stalling it. */
    alarm(300);
    /* Under the sanitizers everything is slower: a tenth of the traffic. */
    uint64_t scale = getenv("SHMLANE_TEST_SHORT") ? 10 : 1;
    shmlane_ring_options_t spsc = shmlane_ring_options_spsc(256, 8 + MESSAGE_SIZE);
    exchange(spsc, 1, 1, 1000000 / scale, 1, TRY);
    exchange(spsc, 1, 1, 1000000 / scale, 32, TRY);
    exchange(spsc, 1, 1, 100000 / scale, 1, SLEEPING);
    exchange(spsc, 1, 1, 300000 / scale, 1, SPINNING);
    shmlane_ring_options_t fixed = shmlane_ring_options_spsc(64, MESSAGE_SIZE);
    fixed.fixed_size = 1;
    exchange(fixed, 1, 1, 300000 / scale, 8, TRY);
    shmlane_ring_options_t mpmc = shmlane_ring_options_mpmc(64, 16 + MESSAGE_SIZE, 8);
    exchange(mpmc, 2, 2, 200000 / scale, 1, TRY);
    exchange(mpmc, 2, 2, 200000 / scale, 16, TRY);
    exchange(mpmc, 2, 1, 50000 / scale, 1, SLEEPING);
    exchange(mpmc, 2, 2, 100000 / scale, 8, SPINNING);
    report("threads");
    return 0;
}
