/* Broadcast rings through the C API: every tethered subscriber sees every
 * message in order (zero-copy, copying, blocking and polling); an
 * untethered subscriber that falls behind reports SHMLANE_STATUS_LAGGED with
 * a count that adds up to what it missed, and never a torn message;
 * subscribers drain, then see DISCONNECTED once the producer has left; bad
 * arguments and misuse give their own statuses. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "check.h"

enum { MESSAGE_SIZE = 40 };

struct message {
    uint64_t sequence;
    uint64_t filler[3];
    uint64_t checksum;
};
_Static_assert(sizeof(struct message) == MESSAGE_SIZE, "message layout");

static uint64_t checksum_of(const struct message *message) {
    return message->sequence * 0x9E3779B97F4A7C15u ^ message->filler[0] ^ message->filler[1] ^
           message->filler[2];
}

static void fill(struct message *message, uint64_t sequence) {
    message->sequence = sequence;
    for (int i = 0; i < 3; i++) {
        message->filler[i] = ~sequence * (uint64_t)(i + 3);
    }
    message->checksum = checksum_of(message);
}

/* Whether `bytes` (`len` of them) are the intact message `sequence`. */
static int is_message(const uint8_t *bytes, size_t len, uint64_t sequence) {
    struct message message;
    if (len != MESSAGE_SIZE) return 0;
    memcpy(&message, bytes, sizeof message);
    return message.sequence == sequence && message.checksum == checksum_of(&message);
}

static uint64_t message_count(uint64_t full) {
    return getenv("SHMLANE_TEST_SHORT") ? full / 10 : full;
}

static shmlane_ring_t *create(const char *tag, shmlane_ring_options_t options, char *path,
                              size_t path_size) {
    scratch_path(path, path_size, tag);
    shmlane_ring_t *ring = NULL;
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    return ring;
}

static shmlane_subscriber_t *subscribe(shmlane_ring_t *ring, int untethered, uint32_t start) {
    shmlane_subscriber_options_t options = shmlane_subscriber_options_default();
    options.untethered = (uint8_t)untethered;
    options.start = start;
    shmlane_subscriber_t *subscriber = NULL;
    CHECK_OK(shmlane_subscriber_open(ring, &options, &subscriber));
    return subscriber;
}

static void check_options_kinds_and_limits(void) {
    shmlane_ring_options_t options = shmlane_ring_options_broadcast(8, 64, 3);
    CHECK(options.kind == SHMLANE_KIND_BROADCAST);
    CHECK(options.max_participants == 4); /* the producer and 3 subscribers */
    char path[256];
    scratch_path(path, sizeof path, "bc-geometry");
    shmlane_ring_t *ring = NULL;
    shmlane_ring_options_t no_subscriber = shmlane_ring_options_broadcast(8, 64, 0);
    CHECK_STATUS(shmlane_ring_create_at(path, &no_subscriber, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    shmlane_ring_options_t no_stamp = options;
    no_stamp.fixed_size = 1;
    no_stamp.slot_size = 4;
    CHECK_STATUS(shmlane_ring_create_at(path, &no_stamp, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    CHECK(ring == NULL);

    ring = create("bc-limits", options, path, sizeof path);
    CHECK(shmlane_ring_kind(ring) == SHMLANE_KIND_BROADCAST);
    shmlane_ring_info_t info;
    CHECK_OK(shmlane_ring_info(ring, &info));
    CHECK(info.kind == SHMLANE_KIND_BROADCAST && info.participant_count == 4);

    /* The kind-erased handles refuse it and name the calls that join it. */
    shmlane_producer_t *any_producer = NULL;
    CHECK_STATUS(shmlane_producer_open(ring, &any_producer), SHMLANE_STATUS_WRONG_KIND);
    CHECK(strstr(shmlane_last_error_message(), "shmlane_broadcast_producer_open") != NULL);
    shmlane_consumer_t *any_consumer = NULL;
    CHECK_STATUS(shmlane_consumer_open(ring, &any_consumer), SHMLANE_STATUS_WRONG_KIND);
    CHECK(any_producer == NULL && any_consumer == NULL);

    /* One producer; up to 3 subscribers of either kind. */
    shmlane_broadcast_producer_t *producer = NULL, *second = NULL;
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    CHECK_STATUS(shmlane_broadcast_producer_open(ring, &second), SHMLANE_STATUS_ROLE_TAKEN);
    CHECK(second == NULL);
    CHECK(shmlane_broadcast_producer_max_payload(producer) == 48);
    shmlane_subscriber_t *tethered = subscribe(ring, 0, SHMLANE_START_NEWEST);
    shmlane_subscriber_t *untethered = subscribe(ring, 1, SHMLANE_START_NEWEST);
    shmlane_subscriber_t *third = subscribe(ring, 0, SHMLANE_START_OLDEST);
    CHECK(shmlane_subscriber_is_tethered(tethered) == 1);
    CHECK(shmlane_subscriber_is_tethered(untethered) == 0);
    CHECK(shmlane_subscriber_max_payload(untethered) == 48);
    shmlane_subscriber_options_t defaults = shmlane_subscriber_options_default();
    shmlane_subscriber_t *fourth = NULL;
    CHECK_STATUS(shmlane_subscriber_open(ring, &defaults, &fourth),
                 SHMLANE_STATUS_TOO_MANY_PARTICIPANTS);
    shmlane_subscriber_close(third); /* its record is free again */
    third = subscribe(ring, 1, SHMLANE_START_OLDEST);
    shmlane_subscriber_close(third);

    /* The handles of the other kinds refuse an SPSC ring. */
    char spsc_path[256];
    shmlane_ring_t *spsc = create("bc-spsc", shmlane_ring_options_spsc(8, 64), spsc_path,
                                  sizeof spsc_path);
    CHECK_STATUS(shmlane_broadcast_producer_open(spsc, &second), SHMLANE_STATUS_WRONG_KIND);
    CHECK_STATUS(shmlane_subscriber_open(spsc, &defaults, &fourth), SHMLANE_STATUS_WRONG_KIND);
    CHECK(second == NULL && fourth == NULL);
    shmlane_ring_close(spsc);
    CHECK_OK(shmlane_ring_remove_at(spsc_path));

    shmlane_subscriber_close(untethered);
    shmlane_subscriber_close(tethered);
    shmlane_broadcast_producer_close(producer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

static void check_bad_arguments_and_lending_rules(void) {
    char path[256];
    shmlane_ring_t *ring = create("bc-arguments", shmlane_ring_options_broadcast(8, 64, 2), path,
                                  sizeof path);
    shmlane_subscriber_options_t options = shmlane_subscriber_options_default();
    shmlane_subscriber_t *subscriber = NULL;
    CHECK_STATUS(shmlane_subscriber_open(NULL, &options, &subscriber),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_open(ring, NULL, &subscriber), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(shmlane_last_error_message(), "options is NULL") != NULL);
    CHECK_STATUS(shmlane_subscriber_open(ring, &options, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    options.start = 7;
    CHECK_STATUS(shmlane_subscriber_open(ring, &options, &subscriber),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(shmlane_last_error_message(), "unknown start 7") != NULL);
    CHECK(subscriber == NULL);
    shmlane_broadcast_producer_t *producer = NULL;
    CHECK_STATUS(shmlane_broadcast_producer_open(ring, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    shmlane_subscriber_t *tethered = subscribe(ring, 0, SHMLANE_START_NEWEST);
    shmlane_subscriber_t *untethered = subscribe(ring, 1, SHMLANE_START_NEWEST);

    /* NULL handles and out-pointers. */
    uint8_t *slot = NULL;
    size_t capacity = 0, len = 0;
    uint64_t lost = 0;
    const uint8_t *data = NULL;
    uint8_t buffer[64];
    CHECK_STATUS(shmlane_broadcast_producer_try_reserve(NULL, &slot, &capacity),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_broadcast_producer_try_send(producer, NULL, 8),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_try_read(NULL, &data, &len), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, NULL, &len),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, NULL),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(shmlane_last_error_message(), "lost is NULL") != NULL);
    CHECK_STATUS(shmlane_subscriber_try_recv(tethered, NULL, 8, &len, &lost),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_skip_to_latest(tethered, NULL),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_subscriber_set_wait_strategy(untethered, NULL),
                 SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(shmlane_subscriber_max_payload(NULL) == 0);
    CHECK(shmlane_subscriber_is_tethered(NULL) == 0);
    CHECK(shmlane_broadcast_producer_max_payload(NULL) == 0);
    shmlane_subscriber_close(NULL); /* ignored */
    shmlane_broadcast_producer_close(NULL);

    /* Empty, timeouts, nothing to commit or release. */
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, &data, &len), SHMLANE_STATUS_EMPTY);
    CHECK_STATUS(shmlane_subscriber_read(tethered, 0, &data, &len), SHMLANE_STATUS_TIMEOUT);
    CHECK_STATUS(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_EMPTY);
    CHECK_STATUS(shmlane_subscriber_recv(untethered, buffer, sizeof buffer, 1000000, &len, &lost),
                 SHMLANE_STATUS_TIMEOUT);
    CHECK_STATUS(shmlane_subscriber_release(tethered), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_broadcast_producer_commit(producer, 8), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_broadcast_producer_abort(producer), SHMLANE_STATUS_NOTHING_PENDING);

    /* Reserve, misuse while reserved, abort, then a commit too large. */
    CHECK_OK(shmlane_broadcast_producer_try_reserve(producer, &slot, &capacity));
    CHECK(slot != NULL && capacity == 48);
    CHECK_STATUS(shmlane_broadcast_producer_try_reserve(producer, &slot, &capacity),
                 SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_broadcast_producer_try_send(producer, "x", 1), SHMLANE_STATUS_BUSY);
    CHECK_OK(shmlane_broadcast_producer_abort(producer));
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, &data, &len), SHMLANE_STATUS_EMPTY);
    CHECK_OK(shmlane_broadcast_producer_reserve(producer, SHMLANE_FOREVER, &slot, &capacity));
    CHECK_STATUS(shmlane_broadcast_producer_commit(producer, 49), SHMLANE_STATUS_MESSAGE_TOO_LARGE);
    CHECK_STATUS(shmlane_broadcast_producer_try_send(producer, buffer, 49),
                 SHMLANE_STATUS_MESSAGE_TOO_LARGE);

    /* One message of 20 bytes, in place, to both subscribers. */
    CHECK_OK(shmlane_broadcast_producer_try_reserve(producer, &slot, &capacity));
    memset(slot, 0xAB, 20);
    CHECK_OK(shmlane_broadcast_producer_commit(producer, 20));
    /* Untethered in place: read, then the release validates; while lent,
     * the other reads are busy. */
    CHECK_STATUS(shmlane_subscriber_release(untethered), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_OK(shmlane_subscriber_try_read(untethered, &data, &len));
    CHECK(len == 20 && data[0] == 0xAB && data[19] == 0xAB);
    CHECK_STATUS(shmlane_subscriber_try_read(untethered, &data, &len), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_subscriber_skip_to_latest(untethered, &lost), SHMLANE_STATUS_BUSY);
    /* Not released: the next read in place returns the same message. */
    CHECK_STATUS(shmlane_subscriber_release(untethered), SHMLANE_STATUS_OK);
    CHECK_STATUS(shmlane_subscriber_release(untethered), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_subscriber_try_read(untethered, &data, &len), SHMLANE_STATUS_EMPTY);
    CHECK(shmlane_subscriber_lost(untethered) == 0);
    /* The copying read, of a second message. */
    CHECK_OK(shmlane_broadcast_producer_try_reserve(producer, &slot, &capacity));
    memset(slot, 0xAB, 20);
    CHECK_OK(shmlane_broadcast_producer_commit(producer, 20));
    len = 0;
    CHECK_STATUS(shmlane_subscriber_try_recv(untethered, buffer, 8, &len, &lost),
                 SHMLANE_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 20); /* the length needed; the message stays */
    CHECK_OK(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, &lost));
    CHECK(len == 20 && buffer[0] == 0xAB && buffer[19] == 0xAB);
    CHECK_OK(shmlane_subscriber_try_read(tethered, &data, &len));
    CHECK(len == 20 && data[0] == 0xAB && data[19] == 0xAB);
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, &data, &len), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_subscriber_try_recv(tethered, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_BUSY);
    uint64_t skipped = 99;
    CHECK_STATUS(shmlane_subscriber_skip_to_latest(tethered, &skipped), SHMLANE_STATUS_BUSY);
    CHECK_OK(shmlane_subscriber_release(tethered));
    CHECK_OK(shmlane_subscriber_try_read(tethered, &data, &len)); /* the second one */
    CHECK(len == 20 && data[0] == 0xAB);
    CHECK_OK(shmlane_subscriber_release(tethered));
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, &data, &len), SHMLANE_STATUS_EMPTY);

    /* Skip to the latest: 5 published, the next read is the fifth. */
    for (uint8_t reading = 0; reading < 5; reading++) {
        CHECK_OK(shmlane_broadcast_producer_send(producer, &reading, 1, SHMLANE_FOREVER));
    }
    CHECK_OK(shmlane_subscriber_skip_to_latest(tethered, &skipped));
    CHECK(skipped == 4);
    CHECK_OK(shmlane_subscriber_recv(tethered, buffer, sizeof buffer, SHMLANE_FOREVER, &len, &lost));
    CHECK(len == 1 && buffer[0] == 4);
    CHECK_OK(shmlane_subscriber_skip_to_latest(untethered, &skipped));
    CHECK(skipped == 4);
    CHECK_OK(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, &lost));
    CHECK(len == 1 && buffer[0] == 4);

    /* The producer leaves: both subscribers drain, then DISCONNECTED. */
    uint8_t last = 42;
    CHECK_OK(shmlane_broadcast_producer_try_send(producer, &last, 1));
    shmlane_broadcast_producer_close(producer);
    CHECK_OK(shmlane_subscriber_read(tethered, SHMLANE_FOREVER, &data, &len));
    CHECK(len == 1 && data[0] == 42);
    CHECK_OK(shmlane_subscriber_release(tethered));
    CHECK_STATUS(shmlane_subscriber_try_read(tethered, &data, &len), SHMLANE_STATUS_DISCONNECTED);
    CHECK_STATUS(shmlane_subscriber_read(tethered, SHMLANE_FOREVER, &data, &len),
                 SHMLANE_STATUS_DISCONNECTED);
    CHECK_OK(shmlane_subscriber_try_recv(untethered, buffer, sizeof buffer, &len, &lost));
    CHECK(len == 1 && buffer[0] == 42);
    CHECK_STATUS(shmlane_subscriber_recv(untethered, buffer, sizeof buffer, SHMLANE_FOREVER, &len,
                                         &lost),
                 SHMLANE_STATUS_DISCONNECTED);

    shmlane_subscriber_close(untethered);
    shmlane_subscriber_close(tethered);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

/* How a tethered subscriber thread reads. */
enum read_mode { ZERO_COPY_SLEEPING, COPY_BLOCKING, ZERO_COPY_POLLING };

struct tethered_run {
    shmlane_subscriber_t *subscriber;
    enum read_mode mode;
    uint64_t count;
    uint64_t received;
    int failed; /* line of the first failure, 0 if none */
};

static void *read_tethered(void *argument) {
    struct tethered_run *run = argument;
    uint8_t buffer[64];
    uint64_t lost = 0;
    if (run->mode == ZERO_COPY_SLEEPING) {
        shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
        if (shmlane_subscriber_set_wait_strategy(run->subscriber, &sleeping) != SHMLANE_STATUS_OK) {
            run->failed = __LINE__;
            return NULL;
        }
    }
    for (;;) {
        const uint8_t *data = NULL;
        size_t len = 0;
        shmlane_status status;
        switch (run->mode) {
        case ZERO_COPY_SLEEPING:
            status = shmlane_subscriber_read(run->subscriber, SHMLANE_FOREVER, &data, &len);
            break;
        case COPY_BLOCKING:
            status = shmlane_subscriber_recv(run->subscriber, buffer, sizeof buffer,
                                             SHMLANE_FOREVER, &len, &lost);
            data = buffer;
            break;
        default:
            while ((status = shmlane_subscriber_try_read(run->subscriber, &data, &len)) ==
                   SHMLANE_STATUS_EMPTY) {
                sched_yield();
            }
        }
        if (status == SHMLANE_STATUS_DISCONNECTED) break;
        if (status != SHMLANE_STATUS_OK || !is_message(data, len, run->received)) {
            run->failed = __LINE__; /* lost, out of order, or torn */
            return NULL;
        }
        run->received++;
        if (run->mode != COPY_BLOCKING &&
            shmlane_subscriber_release(run->subscriber) != SHMLANE_STATUS_OK) {
            run->failed = __LINE__;
            return NULL;
        }
    }
    if (run->received != run->count) run->failed = __LINE__;
    return NULL;
}

static void check_every_tethered_subscriber_sees_every_message_in_order(void) {
    char path[256];
    shmlane_ring_t *ring = create("bc-tethered", shmlane_ring_options_broadcast(16, 64, 3), path,
                                  sizeof path);
    const uint64_t count = message_count(100000);
    struct tethered_run runs[3];
    pthread_t threads[3];
    /* All join before the first message, from the newest: each must see all. */
    for (int i = 0; i < 3; i++) {
        runs[i] = (struct tethered_run){
            .subscriber = subscribe(ring, 0, SHMLANE_START_NEWEST),
            .mode = (enum read_mode)i,
            .count = count,
        };
    }
    shmlane_broadcast_producer_t *producer = NULL;
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_create(&threads[i], NULL, read_tethered, &runs[i]) == 0);
    }
    for (uint64_t sequence = 0; sequence < count; sequence++) {
        struct message message;
        fill(&message, sequence);
        if (sequence % 2 == 0) {
            CHECK_OK(shmlane_broadcast_producer_send(producer, &message, sizeof message,
                                                     SHMLANE_FOREVER));
        } else {
            uint8_t *slot;
            size_t capacity;
            CHECK_OK(shmlane_broadcast_producer_reserve(producer, SHMLANE_FOREVER, &slot,
                                                        &capacity));
            memcpy(slot, &message, sizeof message);
            CHECK_OK(shmlane_broadcast_producer_commit(producer, sizeof message));
        }
    }
    shmlane_broadcast_producer_close(producer); /* the subscribers drain, then disconnect */
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        if (runs[i].failed) fprintf(stderr, "subscriber %d failed at line %d\n", i, runs[i].failed);
        CHECK(runs[i].failed == 0);
        CHECK(runs[i].received == count);
        shmlane_subscriber_close(runs[i].subscriber);
    }
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

static void check_an_untethered_subscriber_lapped_counts_what_it_lost(void) {
    char path[256];
    shmlane_ring_t *ring = create("bc-lapped", shmlane_ring_options_broadcast(8, 64, 1), path,
                                  sizeof path);
    shmlane_broadcast_producer_t *producer = NULL;
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    shmlane_subscriber_t *dashboard = subscribe(ring, 1, SHMLANE_START_NEWEST);
    /* Never held back by an untethered subscriber: 100 into 8 slots. */
    for (uint64_t sequence = 0; sequence < 100; sequence++) {
        struct message message;
        fill(&message, sequence);
        CHECK_OK(shmlane_broadcast_producer_try_send(producer, &message, sizeof message));
    }
    uint8_t buffer[64];
    size_t len = 12345;
    uint64_t lost = 0;
    CHECK_STATUS(shmlane_subscriber_try_recv(dashboard, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_LAGGED);
    CHECK(lost == 93); /* the oldest intact one is 100 - 8 + 1 */
    CHECK(len == 12345); /* no message */
    for (uint64_t sequence = 93; sequence < 100; sequence++) {
        CHECK_OK(shmlane_subscriber_try_recv(dashboard, buffer, sizeof buffer, &len, &lost));
        CHECK(is_message(buffer, len, sequence));
    }
    CHECK_STATUS(shmlane_subscriber_try_recv(dashboard, buffer, sizeof buffer, &len, &lost),
                 SHMLANE_STATUS_EMPTY);
    shmlane_subscriber_close(dashboard);

    /* Overwritten while read in place: the release says so, and counts it. */
    shmlane_subscriber_t *peeker = subscribe(ring, 1, SHMLANE_START_NEWEST);
    {
        struct message message;
        fill(&message, 100);
        CHECK_OK(shmlane_broadcast_producer_try_send(producer, &message, sizeof message));
        const uint8_t *data = NULL;
        CHECK_OK(shmlane_subscriber_try_read(peeker, &data, &len));
        CHECK(is_message(data, len, 100));
        for (uint64_t sequence = 101; sequence < 109; sequence++) {
            fill(&message, sequence);
            CHECK_OK(shmlane_broadcast_producer_try_send(producer, &message, sizeof message));
        }
        CHECK_STATUS(shmlane_subscriber_release(peeker), SHMLANE_STATUS_LAGGED);
        CHECK(shmlane_subscriber_lost(peeker) == 2); /* 100 and 101: the oldest intact is 102 */
        CHECK_OK(shmlane_subscriber_try_read(peeker, &data, &len));
        CHECK(is_message(data, len, 102));
        CHECK_OK(shmlane_subscriber_release(peeker));
    }
    shmlane_subscriber_close(peeker);

    /* From the oldest: what the ring still holds, after a lag report. */
    shmlane_subscriber_t *history = subscribe(ring, 1, SHMLANE_START_OLDEST);
    CHECK_OK(shmlane_subscriber_try_recv(history, buffer, sizeof buffer, &len, &lost));
    CHECK(is_message(buffer, len, 102));
    shmlane_subscriber_close(history);
    shmlane_broadcast_producer_close(producer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

struct untethered_run {
    shmlane_subscriber_t *subscriber;
    uint64_t received;
    uint64_t lost;
    uint64_t lags;
    int failed;
};

/* A slow untethered subscriber: naps every 64 messages, checks each message
 * it gets is intact and the one after what it read or lost. */
static void *read_untethered(void *argument) {
    struct untethered_run *run = argument;
    uint64_t next = 0;
    for (;;) {
        uint8_t buffer[64];
        size_t len = 0;
        uint64_t lost = 0;
        shmlane_status status = shmlane_subscriber_recv(run->subscriber, buffer, sizeof buffer,
                                                        SHMLANE_FOREVER, &len, &lost);
        if (status == SHMLANE_STATUS_DISCONNECTED) return NULL;
        if (status == SHMLANE_STATUS_LAGGED) {
            if (lost == 0) {
                run->failed = __LINE__;
                return NULL;
            }
            run->lost += lost;
            run->lags++;
            next += lost;
            continue;
        }
        if (status != SHMLANE_STATUS_OK || !is_message(buffer, len, next)) {
            run->failed = __LINE__; /* torn, out of order, or a miscount */
            return NULL;
        }
        next++;
        run->received++;
        if (run->received % 64 == 0) {
            struct timespec nap = {0, 200000};
            nanosleep(&nap, NULL);
        }
    }
}

static void check_a_slow_untethered_subscriber_gets_only_intact_messages(void) {
    char path[256];
    shmlane_ring_t *ring = create("bc-slow", shmlane_ring_options_broadcast(16, 64, 2), path,
                                  sizeof path);
    const uint64_t count = message_count(200000);
    shmlane_broadcast_producer_t *producer = NULL;
    CHECK_OK(shmlane_broadcast_producer_open(ring, &producer));
    struct untethered_run run = {.subscriber = subscribe(ring, 1, SHMLANE_START_NEWEST)};
    /* A lap before the subscriber starts reading: it lags at least once. */
    uint64_t sequence = 0;
    for (; sequence < 1000; sequence++) {
        struct message message;
        fill(&message, sequence);
        CHECK_OK(shmlane_broadcast_producer_try_send(producer, &message, sizeof message));
    }
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, read_untethered, &run) == 0);
    for (; sequence < count; sequence++) {
        struct message message;
        fill(&message, sequence);
        CHECK_OK(shmlane_broadcast_producer_try_send(producer, &message, sizeof message));
    }
    shmlane_broadcast_producer_close(producer);
    CHECK(pthread_join(thread, NULL) == 0);
    if (run.failed) fprintf(stderr, "untethered subscriber failed at line %d\n", run.failed);
    CHECK(run.failed == 0);
    CHECK(run.lags >= 1 && run.lost >= 1000 - 16);
    CHECK(run.received + run.lost == count); /* the lag counts add up */
    shmlane_subscriber_close(run.subscriber);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

int main(void) {
    check_options_kinds_and_limits();
    check_bad_arguments_and_lending_rules();
    check_every_tethered_subscriber_sees_every_message_in_order();
    check_an_untethered_subscriber_lapped_counts_what_it_lost();
    check_a_slow_untethered_subscriber_gets_only_intact_messages();
    report("broadcast");
    return 0;
}
