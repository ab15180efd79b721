/* The C API call by call: round trips of every form, and every error path
 * that a test can provoke (each status code but IO and INTERNAL). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "check.h"

static char path[256];

static shmlane_ring_t *create(shmlane_ring_options_t options) {
    shmlane_ring_t *ring = NULL;
    unlink(path);
    CHECK_OK(shmlane_ring_create_at(path, &options, &ring));
    CHECK(ring != NULL);
    return ring;
}

static void check_versions_and_strings(void) {
    uint32_t major = 99, minor = 99, patch = 99;
    shmlane_version_numbers(&major, &minor, &patch);
    char expected[64];
    snprintf(expected, sizeof expected, "%u.%u.%u", major, minor, patch);
    CHECK(strcmp(shmlane_version(), expected) == 0);
    shmlane_version_numbers(NULL, NULL, NULL); /* skipped, not a crash */
    shmlane_layout_version(NULL, NULL);
    /* Every status has its own text; unknown ones one shared text. LAGGED is the last. */
    for (int32_t a = SHMLANE_STATUS_OK; a <= SHMLANE_STATUS_LAGGED; a++) {
        CHECK(shmlane_strerror(a) != NULL && strlen(shmlane_strerror(a)) > 0);
        for (int32_t b = SHMLANE_STATUS_OK; b < a; b++) {
            CHECK(strcmp(shmlane_strerror(a), shmlane_strerror(b)) != 0);
        }
    }
    CHECK(strcmp(shmlane_strerror(-1), "unknown status code") == 0);
    CHECK(strcmp(shmlane_strerror(SHMLANE_STATUS_LAGGED + 1), "unknown status code") == 0);
    CHECK(shmlane_last_error_message() != NULL);
}

static void check_null_arguments(void) {
    shmlane_ring_options_t options = shmlane_ring_options_spsc(4, 64);
    shmlane_ring_t *ring = NULL;
    CHECK_STATUS(shmlane_ring_create(NULL, &options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(shmlane_last_error_message(), "name is NULL") != NULL);
    CHECK_STATUS(shmlane_ring_create("x", NULL, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_create("x", &options, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_create_at(NULL, &options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_open(NULL, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_open_at(path, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    shmlane_open_options_t open_options = shmlane_open_options_default();
    CHECK_STATUS(shmlane_ring_open_with(NULL, NULL, &open_options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_open_with("x", path, &open_options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_open_with("x", NULL, NULL, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_remove(NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_remove_at(NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    shmlane_ring_info_t info;
    CHECK_STATUS(shmlane_ring_info(NULL, &info), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_info(NULL, &info), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_info_at(NULL, &info), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_flush(NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(shmlane_ring_kind(NULL) == 0 && shmlane_ring_max_payload(NULL) == 0);
    shmlane_ring_close(NULL);

    shmlane_producer_t *producer = NULL;
    shmlane_consumer_t *consumer = NULL;
    uint8_t *slot;
    const uint8_t *data;
    size_t size;
    char buffer[8];
    uint8_t flag;
    shmlane_wait_strategy_t strategy = shmlane_wait_strategy_default();
    CHECK_STATUS(shmlane_producer_open(NULL, &producer), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_open(NULL, &consumer), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_reserve(NULL, &slot, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_reserve(NULL, 0, &slot, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_commit(NULL, 0), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_abort(NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_reserve_batch(NULL, 1, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_reserve_batch(NULL, 1, 0, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_slot(NULL, 0, &slot, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_set_len(NULL, 0, 0), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_commit(NULL, 0), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_send(NULL, "x", 1), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_send(NULL, "x", 1, 0), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_set_wait_strategy(NULL, &strategy), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_is_disconnected(NULL, &flag), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_read(NULL, &data, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_read(NULL, 0, &data, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_release(NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_read_batch(NULL, 1, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_read_batch(NULL, 1, 0, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_batch_message(NULL, 0, &data, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_recv(NULL, buffer, sizeof buffer, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_recv(NULL, buffer, sizeof buffer, 0, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_set_wait_strategy(NULL, &strategy), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_is_disconnected(NULL, &flag), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK(shmlane_producer_max_payload(NULL) == 0 && shmlane_consumer_capacity(NULL) == 0);
    shmlane_producer_close(NULL);
    shmlane_consumer_close(NULL);

    /* Null out-pointers and buffers on live handles. */
    shmlane_ring_t *live = create(shmlane_ring_options_spsc(4, 64));
    CHECK_OK(shmlane_producer_open(live, &producer));
    CHECK_OK(shmlane_consumer_open(live, &consumer));
    CHECK_STATUS(shmlane_producer_try_reserve(producer, NULL, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_reserve(producer, &slot, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_send(producer, NULL, 3), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_set_wait_strategy(producer, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_OK(shmlane_producer_try_send(producer, NULL, 0)); /* an empty message needs no bytes */
    CHECK_STATUS(shmlane_consumer_try_read(consumer, NULL, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, NULL, 8, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_OK(shmlane_consumer_try_recv(consumer, NULL, 0, &size));
    CHECK(size == 0);
    CHECK_STATUS(shmlane_producer_open(live, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_open(live, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_info(live, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_participants(NULL, NULL, 0, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_ring_participants(live, NULL, 0, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_is_disconnected(producer, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_is_disconnected(consumer, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_wait_strategy(NULL, &strategy), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_wait_strategy(consumer, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_try_reserve_batch(producer, 1, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_read_batch(consumer, 1, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    size_t one;
    CHECK_OK(shmlane_producer_try_reserve_batch(producer, 1, &one));
    CHECK_STATUS(shmlane_producer_batch_slot(producer, 0, NULL, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_slot(producer, 0, &slot, NULL), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_runs(producer, NULL, &size, &slot, &size), SHMLANE_STATUS_INVALID_ARGUMENT);
    /* BUSY for the calls that need the handle idle. */
    CHECK_STATUS(shmlane_producer_set_wait_strategy(producer, &strategy), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_producer_is_disconnected(producer, &flag), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_producer_wait_strategy(producer, &strategy), SHMLANE_STATUS_BUSY);
    CHECK_OK(shmlane_producer_abort(producer));
    CHECK(shmlane_ring_capacity(live) == 4 && shmlane_ring_capacity(NULL) == 0);
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(live);
}

static void check_open_errors(void) {
    shmlane_ring_t *ring = NULL;
    shmlane_ring_options_t options = shmlane_ring_options_spsc(4, 64);
    CHECK_STATUS(shmlane_ring_create("bad/name", &options, &ring), SHMLANE_STATUS_BAD_NAME);
    CHECK(strstr(shmlane_last_error_message(), "bad/name") != NULL);
    CHECK_STATUS(shmlane_ring_create(".hidden", &options, &ring), SHMLANE_STATUS_BAD_NAME);
    CHECK_STATUS(shmlane_ring_open("bad name", &ring), SHMLANE_STATUS_BAD_NAME);
    const char invalid_utf8[] = {'r', (char)0xff, 0};
    CHECK_STATUS(shmlane_ring_open(invalid_utf8, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    options.kind = 7;
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    options = shmlane_ring_options_spsc(3, 64);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(4, 60);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_mpmc(4, 64, 1);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_mpmc(4, 4, 2);
    options.fixed_size = 1;
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_BAD_GEOMETRY);
    options = shmlane_ring_options_spsc(4, 64);
    options.mode = 0400; /* must include 0600 */
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &ring), SHMLANE_STATUS_PERMISSION);

    unlink(path);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_NOT_FOUND);
    CHECK_STATUS(shmlane_ring_remove_at(path), SHMLANE_STATUS_NOT_FOUND);
    shmlane_ring_info_t info;
    CHECK_STATUS(shmlane_info_at(path, &info), SHMLANE_STATUS_NOT_FOUND);

    ring = create(shmlane_ring_options_spsc(4, 64));
    shmlane_ring_t *duplicate = NULL;
    options = shmlane_ring_options_spsc(4, 64);
    CHECK_STATUS(shmlane_ring_create_at(path, &options, &duplicate), SHMLANE_STATUS_ALREADY_EXISTS);
    CHECK(duplicate == NULL);
    shmlane_ring_close(ring);

    /* A symbolic link to a ring is refused. */
    char link_path[300];
    snprintf(link_path, sizeof link_path, "%s.link", path);
    unlink(link_path);
    CHECK(symlink(path, link_path) == 0);
    CHECK_STATUS(shmlane_ring_open_at(link_path, &ring), SHMLANE_STATUS_SYMLINK);
    unlink(link_path);

    /* The kind asked for. */
    shmlane_open_options_t open_options = shmlane_open_options_default();
    open_options.expect_kind = SHMLANE_KIND_MPMC;
    CHECK_STATUS(shmlane_ring_open_with(NULL, path, &open_options, &ring), SHMLANE_STATUS_WRONG_KIND);
    open_options.expect_kind = 9;
    CHECK_STATUS(shmlane_ring_open_with(NULL, path, &open_options, &ring), SHMLANE_STATUS_INVALID_ARGUMENT);
    open_options.expect_kind = SHMLANE_KIND_SPSC;
    CHECK_OK(shmlane_ring_open_with(NULL, path, &open_options, &ring));
    shmlane_ring_close(ring);

    /* A file writable by others is refused unless the caller opts in. */
    CHECK(chmod(path, 0666) == 0);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_PERMISSION);
    /* The message names what to set in the C API, not in another one. */
    CHECK(strstr(shmlane_last_error_message(), "0666") != NULL);
    CHECK(strstr(shmlane_last_error_message(),
                 "set allow_shared_mode in the shmlane_open_options_t given to shmlane_ring_open_with") != NULL);
    CHECK(strstr(shmlane_last_error_message(), "::") == NULL);
    open_options = shmlane_open_options_default();
    open_options.allow_shared_mode = 1;
    CHECK_OK(shmlane_ring_open_with(NULL, path, &open_options, &ring));
    shmlane_ring_close(ring);
    CHECK(chmod(path, 0600) == 0);

    /* A header of another major version. */
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint16_t version, minor;
    shmlane_layout_version(&version, &minor);
    version++;
    CHECK(pwrite(fd, &version, sizeof version, 8) == (ssize_t)sizeof version);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_UNSUPPORTED_VERSION);
    version--;
    CHECK(pwrite(fd, &version, sizeof version, 8) == (ssize_t)sizeof version);
    /* A capacity out of range, then one that disagrees with the other fields:
     * a file that fails its own header checks is a corrupt ring, named with
     * the field (BAD_GEOMETRY is for a geometry refused at create). */
    uint64_t capacity = 3;
    CHECK(pwrite(fd, &capacity, sizeof capacity, 24) == (ssize_t)sizeof capacity);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_CORRUPT);
    CHECK(strstr(shmlane_last_error_message(), "capacity") != NULL);
    capacity = 8;
    CHECK(pwrite(fd, &capacity, sizeof capacity, 24) == (ssize_t)sizeof capacity);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_CORRUPT);
    CHECK(strstr(shmlane_last_error_message(), "total_size") != NULL);
    capacity = 4;
    CHECK(pwrite(fd, &capacity, sizeof capacity, 24) == (ssize_t)sizeof capacity);
    CHECK_OK(shmlane_ring_open_at(path, &ring));
    shmlane_ring_close(ring);
    /* A truncated file. */
    CHECK(ftruncate(fd, 1000) == 0);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_FILE_TOO_SMALL);
    /* A header whose creator never finished: corrupt at once when it names no
     * running creator (pid 0), not ready after the timeout while its creator
     * (here this process) still runs. */
    uint32_t ready = 0;
    CHECK(ftruncate(fd, 0) == 0 && ftruncate(fd, 4096) == 0);
    uint64_t magic = 0x00454E414C4D4853u;
    CHECK(pwrite(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic);
    CHECK(pwrite(fd, &ready, sizeof ready, 128) == (ssize_t)sizeof ready);
    open_options = shmlane_open_options_default();
    open_options.ready_timeout_ns = 10 * 1000 * 1000;
    CHECK_STATUS(shmlane_ring_open_with(NULL, path, &open_options, &ring), SHMLANE_STATUS_CORRUPT);
    CHECK(strstr(shmlane_last_error_message(), "creator_pid") != NULL);
    uint32_t creator = (uint32_t)getpid();
    CHECK(pwrite(fd, &creator, sizeof creator, 120) == (ssize_t)sizeof creator);
    CHECK_STATUS(shmlane_ring_open_with(NULL, path, &open_options, &ring), SHMLANE_STATUS_NOT_READY);
    /* Not a ring at all. */
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(pwrite(fd, "hello, world", 12, 0) == 12);
    CHECK_STATUS(shmlane_ring_open_at(path, &ring), SHMLANE_STATUS_NOT_A_RING);
    CHECK_STATUS(shmlane_ring_remove_at(path), SHMLANE_STATUS_NOT_A_RING);
    close(fd);
    unlink(path);
}

static void check_spsc_forms(void) {
    shmlane_ring_t *ring = create(shmlane_ring_options_spsc(4, 32));
    CHECK(shmlane_ring_kind(ring) == SHMLANE_KIND_SPSC);
    CHECK(shmlane_ring_max_payload(ring) == 24);
    shmlane_producer_t *producer = NULL, *second_producer = NULL;
    shmlane_consumer_t *consumer = NULL, *second_consumer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_STATUS(shmlane_producer_open(ring, &second_producer), SHMLANE_STATUS_ROLE_TAKEN);
    CHECK(strstr(shmlane_last_error_message(), "producer") != NULL);
    CHECK(shmlane_producer_max_payload(producer) == 24 && shmlane_producer_capacity(producer) == 4);

    uint8_t *slot;
    size_t capacity;
    const uint8_t *data;
    size_t len;
    uint8_t flag = 9;
    /* No consumer yet: not disconnected, and empty/full as usual. */
    CHECK_OK(shmlane_producer_is_disconnected(producer, &flag));
    CHECK(flag == 0);

    /* Zero-copy: reserve, write, commit; a second reserve while one is lent is BUSY. */
    CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
    CHECK(capacity == 24);
    memcpy(slot, "zero-copy", 9);
    CHECK_STATUS(shmlane_producer_try_reserve(producer, &slot, &capacity), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_producer_try_send(producer, "x", 1), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_producer_batch_commit(producer, 1), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_producer_batch_slot(producer, 0, &slot, &capacity), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_OK(shmlane_producer_commit(producer, 9));
    CHECK_STATUS(shmlane_producer_commit(producer, 9), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_producer_abort(producer), SHMLANE_STATUS_NOTHING_PENDING);
    /* Too large: refused, nothing published, the slot given up. */
    CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
    CHECK_STATUS(shmlane_producer_commit(producer, 25), SHMLANE_STATUS_MESSAGE_TOO_LARGE);
    CHECK(strstr(shmlane_last_error_message(), "25") != NULL);
    CHECK_STATUS(shmlane_producer_try_send(producer, "0123456789012345678901234", 25),
                 SHMLANE_STATUS_MESSAGE_TOO_LARGE);
    /* Abort publishes nothing. */
    CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
    memcpy(slot, "aborted", 7);
    CHECK_OK(shmlane_producer_abort(producer));

    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    CHECK_STATUS(shmlane_consumer_open(ring, &second_consumer), SHMLANE_STATUS_ROLE_TAKEN);
    CHECK_OK(shmlane_consumer_try_read(consumer, &data, &len));
    CHECK(len == 9 && memcmp(data, "zero-copy", 9) == 0);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_consumer_batch_message(consumer, 0, &data, &len), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_OK(shmlane_consumer_release(consumer));
    CHECK_STATUS(shmlane_consumer_release(consumer), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_EMPTY);
    CHECK_STATUS(shmlane_consumer_read(consumer, 1000 * 1000, &data, &len), SHMLANE_STATUS_TIMEOUT);

    /* Fill the ring: FULL, then TIMEOUT for the blocking forms. */
    for (int i = 0; i < 4; i++) {
        char message[8];
        int n = snprintf(message, sizeof message, "m%d", i);
        CHECK_OK(shmlane_producer_send(producer, message, (size_t)n, SHMLANE_FOREVER));
    }
    CHECK_STATUS(shmlane_producer_try_reserve(producer, &slot, &capacity), SHMLANE_STATUS_FULL);
    CHECK_STATUS(shmlane_producer_try_send(producer, "x", 1), SHMLANE_STATUS_FULL);
    CHECK_STATUS(shmlane_producer_reserve(producer, 1000 * 1000, &slot, &capacity), SHMLANE_STATUS_TIMEOUT);
    CHECK_STATUS(shmlane_producer_send(producer, "x", 1, 0), SHMLANE_STATUS_TIMEOUT);
    size_t count = 0;
    CHECK_STATUS(shmlane_producer_try_reserve_batch(producer, 4, &count), SHMLANE_STATUS_FULL);

    /* recv: a buffer too small keeps the message and says what it needs. */
    char small[1];
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, small, sizeof small, &len), SHMLANE_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 2);
    char buffer[32];
    CHECK_OK(shmlane_consumer_recv(consumer, buffer, sizeof buffer, SHMLANE_FOREVER, &len));
    CHECK(len == 2 && memcmp(buffer, "m0", 2) == 0);
    /* A read batch of the other three. */
    CHECK_OK(shmlane_consumer_try_read_batch(consumer, 8, &count));
    CHECK(count == 3);
    for (size_t i = 0; i < count; i++) {
        char expected[24];
        snprintf(expected, sizeof expected, "m%zu", i + 1);
        CHECK_OK(shmlane_consumer_batch_message(consumer, i, &data, &len));
        CHECK(len == 2 && memcmp(data, expected, 2) == 0);
    }
    CHECK_STATUS(shmlane_consumer_batch_message(consumer, 3, &data, &len), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len), SHMLANE_STATUS_BUSY);
    CHECK_OK(shmlane_consumer_release(consumer));

    /* A write batch: three of four slots committed; the fourth given back. */
    CHECK_OK(shmlane_producer_reserve_batch(producer, 16, SHMLANE_FOREVER, &count));
    CHECK(count == 4);
    for (size_t i = 0; i < count; i++) {
        CHECK_OK(shmlane_producer_batch_slot(producer, i, &slot, &capacity));
        CHECK(capacity == 24);
        memset(slot, 'a' + (int)i, i + 1);
        CHECK_OK(shmlane_producer_batch_set_len(producer, i, i + 1));
    }
    CHECK_STATUS(shmlane_producer_batch_slot(producer, 4, &slot, &capacity), SHMLANE_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_producer_batch_set_len(producer, 0, 25), SHMLANE_STATUS_MESSAGE_TOO_LARGE);
    CHECK_STATUS(shmlane_producer_commit(producer, 1), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_OK(shmlane_producer_batch_commit(producer, 3));
    CHECK_OK(shmlane_consumer_read_batch(consumer, 16, SHMLANE_FOREVER, &count));
    CHECK(count == 3);
    CHECK_OK(shmlane_consumer_batch_message(consumer, 2, &data, &len));
    CHECK(len == 3 && memcmp(data, "ccc", 3) == 0);
    CHECK_OK(shmlane_consumer_release(consumer));
    /* An empty batch is a success with nothing in it. */
    CHECK_OK(shmlane_producer_try_reserve_batch(producer, 0, &count));
    CHECK(count == 0);
    CHECK_OK(shmlane_producer_batch_commit(producer, SIZE_MAX));

    /* Info while live. */
    shmlane_ring_info_t info;
    CHECK_OK(shmlane_ring_info(ring, &info));
    CHECK(info.kind == SHMLANE_KIND_SPSC && info.capacity == 4 && info.slot_size == 32);
    CHECK(info.max_payload == 24 && info.len == 0 && info.head == info.tail && info.tail == 8);
    CHECK(info.producers_alive == 1 && info.consumers_alive == 1 && info.participants_dead == 0);
    uint16_t layout_major = 0, layout_minor = 0;
    shmlane_layout_version(&layout_major, &layout_minor);
    CHECK(info.creator_pid == (uint32_t)getpid() && info.version_major == layout_major);
    CHECK(info.dropped_claims == 0 && info.lost_messages == 0);
    shmlane_participant_info_t records[4];
    size_t record_count = 0;
    CHECK_OK(shmlane_ring_participants(ring, records, 4, &record_count));
    CHECK(record_count == 2);
    CHECK(records[0].role == SHMLANE_ROLE_PRODUCER && records[0].state == SHMLANE_PARTICIPANT_ALIVE);
    CHECK(records[1].role == SHMLANE_ROLE_CONSUMER && records[1].pid == (uint32_t)getpid());
    CHECK(records[1].generation == 1 && records[1].joined_ns > 0);
    CHECK_OK(shmlane_ring_participants(ring, NULL, 0, &record_count));
    CHECK(record_count == 2);
    CHECK_STATUS(shmlane_ring_participants(ring, NULL, 1, &record_count), SHMLANE_STATUS_INVALID_ARGUMENT);
    shmlane_wait_strategy_t strategy;
    shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
    CHECK_OK(shmlane_consumer_set_wait_strategy(consumer, &sleeping));
    CHECK_OK(shmlane_consumer_wait_strategy(consumer, &strategy));
    CHECK(strategy.sleeps == 1 && strategy.spin_ns == sleeping.spin_ns && strategy.peer_check_ns == sleeping.peer_check_ns);
    CHECK_OK(shmlane_producer_wait_strategy(producer, &strategy));
    shmlane_wait_strategy_t fallback = shmlane_wait_strategy_default();
    CHECK(strategy.spin_ns == fallback.spin_ns && strategy.yield_ns == fallback.yield_ns &&
          strategy.sleeps == fallback.sleeps && strategy.peer_check_ns == fallback.peer_check_ns);
    shmlane_ring_info_t by_path;
    CHECK_OK(shmlane_info_at(path, &by_path));
    CHECK(by_path.tail == info.tail && by_path.total_size == info.total_size);
    CHECK_OK(shmlane_ring_flush(ring));

    /* The producer leaves: the consumer drains, then DISCONNECTED. */
    CHECK_OK(shmlane_producer_send(producer, "last", 4, 0));
    shmlane_producer_close(producer);
    CHECK_OK(shmlane_consumer_is_disconnected(consumer, &flag));
    CHECK(flag == 1);
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    CHECK(len == 4 && memcmp(buffer, "last", 4) == 0);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_DISCONNECTED);
    CHECK_STATUS(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len), SHMLANE_STATUS_DISCONNECTED);
    /* And a new producer may join: the role is free again. */
    CHECK_OK(shmlane_producer_open(ring, &producer));
    shmlane_consumer_close(consumer);
    uint8_t gone = 0;
    CHECK_OK(shmlane_producer_is_disconnected(producer, &gone));
    CHECK(gone == 1);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(shmlane_producer_try_send(producer, "x", 1));
    }
    CHECK_STATUS(shmlane_producer_try_send(producer, "x", 1), SHMLANE_STATUS_DISCONNECTED);
    /* Closing with a slot lent gives it up. */
    CHECK_OK(shmlane_producer_try_reserve_batch(producer, 0, &count));
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

static void check_fixed_size(void) {
    shmlane_ring_options_t options = shmlane_ring_options_spsc(8, 16);
    options.fixed_size = 1;
    shmlane_ring_t *ring = create(options);
    shmlane_producer_t *producer = NULL;
    shmlane_consumer_t *consumer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    CHECK_STATUS(shmlane_producer_try_send(producer, "short", 5), SHMLANE_STATUS_WRONG_MESSAGE_SIZE);
    uint8_t *slot;
    size_t capacity;
    CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
    CHECK(capacity == 16);
    CHECK_STATUS(shmlane_producer_commit(producer, 8), SHMLANE_STATUS_WRONG_MESSAGE_SIZE);
    CHECK_OK(shmlane_producer_try_send(producer, "sixteen bytes!!!", 16));
    const uint8_t *data;
    size_t len;
    CHECK_OK(shmlane_consumer_try_read(consumer, &data, &len));
    CHECK(len == 16 && memcmp(data, "sixteen bytes!!!", 16) == 0);
    CHECK_OK(shmlane_consumer_release(consumer));
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

static void check_mpmc_forms(void) {
    shmlane_ring_t *ring = create(shmlane_ring_options_mpmc(4, 32, 3));
    CHECK(shmlane_ring_kind(ring) == SHMLANE_KIND_MPMC);
    shmlane_producer_t *first = NULL, *second = NULL, *third = NULL;
    shmlane_consumer_t *consumer = NULL, *extra = NULL;
    CHECK_OK(shmlane_producer_open(ring, &first));
    CHECK_OK(shmlane_producer_open(ring, &second));
    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    CHECK_STATUS(shmlane_producer_open(ring, &third), SHMLANE_STATUS_TOO_MANY_PARTICIPANTS);
    CHECK_STATUS(shmlane_consumer_open(ring, &extra), SHMLANE_STATUS_TOO_MANY_PARTICIPANTS);

    /* Two producers interleave; an aborted slot is skipped by the consumer. */
    uint8_t *slot;
    size_t capacity;
    CHECK_OK(shmlane_producer_try_reserve(first, &slot, &capacity));
    CHECK(capacity == 16);
    memcpy(slot, "first", 5);
    CHECK_OK(shmlane_producer_try_reserve(second, &slot, &capacity));
    CHECK_OK(shmlane_producer_abort(second));
    CHECK_OK(shmlane_producer_commit(first, 5));
    CHECK_OK(shmlane_producer_try_send(second, "second", 6));
    const uint8_t *data;
    size_t len;
    CHECK_OK(shmlane_consumer_try_read(consumer, &data, &len));
    CHECK(len == 5 && memcmp(data, "first", 5) == 0);
    CHECK_OK(shmlane_consumer_release(consumer));
    CHECK_OK(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len));
    CHECK(len == 6 && memcmp(data, "second", 6) == 0);
    CHECK_OK(shmlane_consumer_release(consumer));
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_EMPTY);

    /* A failed MPMC commit publishes nothing and gives the slot up: the
     * consumer passes over it to the next message. */
    CHECK_OK(shmlane_producer_try_reserve(first, &slot, &capacity));
    CHECK_STATUS(shmlane_producer_try_reserve(first, &slot, &capacity), SHMLANE_STATUS_BUSY);
    CHECK_STATUS(shmlane_producer_commit(first, 17), SHMLANE_STATUS_MESSAGE_TOO_LARGE);
    CHECK_STATUS(shmlane_producer_commit(first, 4), SHMLANE_STATUS_NOTHING_PENDING);
    CHECK_OK(shmlane_producer_try_send(first, "after", 5));
    CHECK_OK(shmlane_consumer_try_read(consumer, &data, &len));
    CHECK(len == 5 && memcmp(data, "after", 5) == 0);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_BUSY);
    CHECK_OK(shmlane_consumer_release(consumer));

    /* Batches. */
    size_t count;
    CHECK_OK(shmlane_producer_try_reserve_batch(first, 3, &count));
    CHECK(count == 3);
    for (size_t i = 0; i < count; i++) {
        CHECK_OK(shmlane_producer_batch_slot(first, i, &slot, &capacity));
        slot[0] = (uint8_t)('x' + i);
        CHECK_OK(shmlane_producer_batch_set_len(first, i, 1));
    }
    CHECK_OK(shmlane_producer_batch_commit(first, SIZE_MAX));
    CHECK_STATUS(shmlane_producer_try_send(first, "full?", 5), SHMLANE_STATUS_OK);
    CHECK_STATUS(shmlane_producer_try_send(first, "full!", 5), SHMLANE_STATUS_FULL);
    CHECK_OK(shmlane_consumer_try_read_batch(consumer, 2, &count));
    CHECK(count == 2);
    CHECK_OK(shmlane_consumer_batch_message(consumer, 1, &data, &len));
    CHECK(len == 1 && data[0] == 'y');
    CHECK_OK(shmlane_consumer_release(consumer));
    char buffer[16];
    char tiny[2];
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    CHECK(len == 1 && buffer[0] == 'z');
    CHECK_STATUS(shmlane_consumer_try_recv(consumer, tiny, sizeof tiny, &len), SHMLANE_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    CHECK_OK(shmlane_consumer_try_recv(consumer, buffer, sizeof buffer, &len));
    CHECK(len == 5 && memcmp(buffer, "full?", 5) == 0);

    /* All producers gone and drained: DISCONNECTED. A closed record is free again. */
    shmlane_producer_close(first);
    shmlane_producer_close(second);
    /* (A non-blocking read notices within 16 calls and 1 ms; a blocking one waits for it.) */
    CHECK_STATUS(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len), SHMLANE_STATUS_DISCONNECTED);
    CHECK_OK(shmlane_consumer_open(ring, &extra));
    shmlane_consumer_close(extra);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

/* A corrupted position in the mapping is reported, never followed. */
static void check_corruption(void) {
    shmlane_ring_t *ring = create(shmlane_ring_options_spsc(4, 32));
    shmlane_producer_t *producer = NULL;
    shmlane_consumer_t *consumer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint64_t tail = 1000; /* 1000 messages in a ring of 4 */
    CHECK(pwrite(fd, &tail, sizeof tail, 256) == (ssize_t)sizeof tail);
    const uint8_t *data;
    size_t len;
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_CORRUPT);
    CHECK(strstr(shmlane_last_error_message(), "corrupt") != NULL);
    /* A length above the maximum payload is skipped and reported. */
    tail = 1;
    CHECK(pwrite(fd, &tail, sizeof tail, 256) == (ssize_t)sizeof tail);
    uint32_t bad_len = 1000;
    CHECK(pwrite(fd, &bad_len, sizeof bad_len, 896 + 2 * 128) == (ssize_t)sizeof bad_len);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_CORRUPT);
    CHECK_STATUS(shmlane_consumer_try_read(consumer, &data, &len), SHMLANE_STATUS_EMPTY);
    close(fd);
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

/* Closing a handle gives back what it holds: a borrowed message is released
 * (the next consumer reads the one after it), a reserved slot is given up. */
static void check_close_with_something_lent(void) {
    for (uint32_t kind = SHMLANE_KIND_SPSC; kind <= SHMLANE_KIND_MPMC; kind++) {
        shmlane_ring_t *ring = create(kind == SHMLANE_KIND_SPSC ? shmlane_ring_options_spsc(4, 32)
                                                                 : shmlane_ring_options_mpmc(4, 32, 4));
        shmlane_producer_t *producer = NULL;
        shmlane_consumer_t *consumer = NULL;
        CHECK_OK(shmlane_producer_open(ring, &producer));
        CHECK_OK(shmlane_producer_try_send(producer, "one", 3));
        CHECK_OK(shmlane_producer_try_send(producer, "two", 3));
        uint8_t *slot;
        size_t capacity;
        CHECK_OK(shmlane_producer_try_reserve(producer, &slot, &capacity));
        memcpy(slot, "never", 5);
        shmlane_producer_close(producer);
        CHECK_OK(shmlane_consumer_open(ring, &consumer));
        const uint8_t *data;
        size_t len;
        CHECK_OK(shmlane_consumer_try_read(consumer, &data, &len));
        CHECK(len == 3 && memcmp(data, "one", 3) == 0);
        shmlane_consumer_close(consumer);
        CHECK_OK(shmlane_consumer_open(ring, &consumer));
        CHECK_OK(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len));
        CHECK(len == 3 && memcmp(data, "two", 3) == 0);
        CHECK_OK(shmlane_consumer_release(consumer));
        CHECK_STATUS(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len), SHMLANE_STATUS_DISCONNECTED);
        shmlane_consumer_close(consumer);
        shmlane_ring_close(ring);
        CHECK_OK(shmlane_ring_remove_at(path));
    }
}

/* Closing with a non-empty batch lent: a producer's reserved batch is never
 * published, a consumer's borrowed batch is released. */
static void check_close_with_a_batch_lent(void) {
    for (uint32_t kind = SHMLANE_KIND_SPSC; kind <= SHMLANE_KIND_MPMC; kind++) {
        shmlane_ring_t *ring = create(kind == SHMLANE_KIND_SPSC ? shmlane_ring_options_spsc(8, 32)
                                                                 : shmlane_ring_options_mpmc(8, 32, 4));
        shmlane_producer_t *producer = NULL;
        shmlane_consumer_t *consumer = NULL;
        CHECK_OK(shmlane_producer_open(ring, &producer));
        CHECK_OK(shmlane_producer_try_send(producer, "a", 1));
        CHECK_OK(shmlane_producer_try_send(producer, "b", 1));
        CHECK_OK(shmlane_producer_try_send(producer, "c", 1));
        size_t count;
        CHECK_OK(shmlane_producer_try_reserve_batch(producer, 2, &count));
        CHECK(count == 2);
        for (size_t i = 0; i < count; i++) {
            uint8_t *slot;
            size_t capacity;
            CHECK_OK(shmlane_producer_batch_slot(producer, i, &slot, &capacity));
            slot[0] = 'X';
            CHECK_OK(shmlane_producer_batch_set_len(producer, i, 1));
        }
        shmlane_producer_close(producer);
        CHECK_OK(shmlane_consumer_open(ring, &consumer));
        CHECK_OK(shmlane_consumer_try_read_batch(consumer, 2, &count));
        CHECK(count == 2);
        shmlane_consumer_close(consumer); /* releases "a" and "b" */
        CHECK_OK(shmlane_consumer_open(ring, &consumer));
        const uint8_t *data;
        size_t len;
        CHECK_OK(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len));
        CHECK(len == 1 && data[0] == 'c');
        CHECK_OK(shmlane_consumer_release(consumer));
        /* Nothing of the closed producer's batch arrives. */
        CHECK_STATUS(shmlane_consumer_read(consumer, SHMLANE_FOREVER, &data, &len), SHMLANE_STATUS_DISCONNECTED);
        shmlane_consumer_close(consumer);
        shmlane_ring_close(ring);
        CHECK_OK(shmlane_ring_remove_at(path));
    }
}

/* Contiguous runs of a batch in a fixed-size SPSC ring, across the wrap. */
static void check_batch_runs(void) {
    shmlane_ring_options_t options = shmlane_ring_options_spsc(4, 8);
    options.fixed_size = 1;
    shmlane_ring_t *ring = create(options);
    shmlane_producer_t *producer = NULL;
    shmlane_consumer_t *consumer = NULL;
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_OK(shmlane_consumer_open(ring, &consumer));
    uint64_t value;
    size_t len;
    for (value = 0; value < 3; value++) {
        CHECK_OK(shmlane_producer_try_send(producer, &value, 8));
        CHECK_OK(shmlane_consumer_try_recv(consumer, &value, 8, &len));
    }
    /* Positions 3..6: slot 3, then slots 0..2 after the wrap. */
    size_t count;
    CHECK_OK(shmlane_producer_try_reserve_batch(producer, 4, &count));
    CHECK(count == 4);
    uint8_t *first, *second;
    size_t first_len, second_len;
    CHECK_OK(shmlane_producer_batch_runs(producer, &first, &first_len, &second, &second_len));
    CHECK(first_len == 8 && second_len == 24);
    for (uint64_t i = 0; i < 4; i++) {
        value = 100 + i;
        memcpy(i == 0 ? first : second + (i - 1) * 8, &value, 8);
    }
    CHECK_OK(shmlane_producer_batch_commit(producer, SIZE_MAX));
    CHECK_OK(shmlane_consumer_try_read_batch(consumer, 4, &count));
    CHECK(count == 4);
    const uint8_t *run_a, *run_b;
    CHECK_OK(shmlane_consumer_batch_runs(consumer, &run_a, &first_len, &run_b, &second_len));
    CHECK(first_len == 8 && second_len == 24);
    memcpy(&value, run_a, 8);
    CHECK(value == 100);
    memcpy(&value, run_b + 16, 8);
    CHECK(value == 103);
    CHECK_OK(shmlane_consumer_release(consumer));
    CHECK_STATUS(shmlane_consumer_batch_runs(consumer, &run_a, &first_len, &run_b, &second_len),
                 SHMLANE_STATUS_NOTHING_PENDING);
    shmlane_producer_close(producer);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));

    /* Other rings have no contiguous runs. */
    ring = create(shmlane_ring_options_spsc(4, 16));
    CHECK_OK(shmlane_producer_open(ring, &producer));
    CHECK_OK(shmlane_producer_try_reserve_batch(producer, 2, &count));
    CHECK_STATUS(shmlane_producer_batch_runs(producer, &first, &first_len, &second, &second_len),
                 SHMLANE_STATUS_WRONG_KIND);
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_ring_remove_at(path));
}

/* Names under /dev/shm. */
static void check_named_rings(void) {
    char name[64];
    snprintf(name, sizeof name, "shmlane-c-api-%ld", (long)getpid());
    shmlane_ring_options_t options = shmlane_ring_options_spsc(4, 64);
    shmlane_ring_t *ring = NULL, *again = NULL;
    CHECK_OK(shmlane_ring_create(name, &options, &ring));
    CHECK_OK(shmlane_ring_open(name, &again));
    shmlane_ring_info_t info;
    CHECK_OK(shmlane_info(name, &info));
    CHECK(info.capacity == 4);
    CHECK_OK(shmlane_ring_remove(name));
    CHECK_STATUS(shmlane_ring_open(name, &ring), SHMLANE_STATUS_NOT_FOUND);
    /* Handles outlive the name and the ring handle. */
    shmlane_producer_t *producer = NULL;
    CHECK_OK(shmlane_producer_open(again, &producer));
    shmlane_ring_close(again);
    shmlane_ring_close(ring);
    CHECK_OK(shmlane_producer_try_send(producer, "still", 5));
    shmlane_producer_close(producer);
}

int main(void) {
    alarm(120); /* a hang fails the test instead of stalling it */
    scratch_path(path, sizeof path, "api");
    check_versions_and_strings();
    check_null_arguments();
    check_open_errors();
    check_spsc_forms();
    check_fixed_size();
    check_mpmc_forms();
    check_corruption();
    check_close_with_something_lent();
    check_close_with_a_batch_lent();
    check_batch_runs();
    check_named_rings();
    unlink(path);
    report("api");
    return 0;
}
