/* A simulated sensor publishing 64-byte frames into a shmlane ring, written
 * in place (zero-copy: reserve, fill, commit).
 *
 *   sensor_producer [--name NAME] [--rate FRAMES_PER_SECOND] [--count N]
 *   sensor_producer --help
 *
 * Creates /dev/shm/NAME (default shmlane-sensors) as an SPSC ring of 4096
 * fixed-size 64-byte slots if it does not exist, publishes N frames (default:
 * until interrupted) at the given rate (default 100000/s; 0: as fast as the
 * consumer takes them), then closes its handle so that the consumer sees the
 * end of the stream. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor.h"
#include "shmlane.h"

static volatile sig_atomic_t stop;

static void on_signal(int signal) {
    (void)signal;
    stop = 1;
}

static int fail(const char *what, shmlane_status status) {
    fprintf(stderr, "sensor_producer: %s: %s\n", what,
            status == SHMLANE_STATUS_FULL ? shmlane_strerror(status) : shmlane_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    const char *name = SENSOR_RING_NAME;
    double rate = 100000;
    uint64_t count = UINT64_MAX;
    for (int i = 1; i < argc; i += 2) {
        /* Every flag takes a value: a flag without one, --help and anything
         * unknown print the usage instead of running forever. */
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value != NULL && strcmp(argv[i], "--name") == 0) name = value;
        else if (value != NULL && strcmp(argv[i], "--rate") == 0) rate = atof(value);
        else if (value != NULL && strcmp(argv[i], "--count") == 0) count = strtoull(value, NULL, 10);
        else {
            int asked = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(asked ? stdout : stderr, "usage: sensor_producer [--name NAME] [--rate HZ] [--count N]\n");
            return asked ? 0 : 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    shmlane_ring_t *ring = NULL;
    shmlane_ring_options_t options = shmlane_ring_options_spsc(4096, sizeof(struct sensor_frame));
    options.fixed_size = 1;
    shmlane_status status = shmlane_ring_create(name, &options, &ring);
    if (status == SHMLANE_STATUS_ALREADY_EXISTS) {
        status = shmlane_ring_open(name, &ring);
    }
    if (status != SHMLANE_STATUS_OK) return fail("opening the ring", status);
    if (shmlane_ring_max_payload(ring) != sizeof(struct sensor_frame)) {
        fprintf(stderr, "sensor_producer: ring %s does not carry 64-byte frames\n", name);
        return 1;
    }
    shmlane_producer_t *producer = NULL;
    if ((status = shmlane_producer_open(ring, &producer)) != SHMLANE_STATUS_OK) return fail("joining", status);

    uint64_t started = sensor_clock_ns();
    uint64_t sequence = 0;
    while (sequence < count && !stop) {
        if (rate > 0) {
            /* Pace: frame n is due at started + n / rate. */
            uint64_t due = started + (uint64_t)((double)sequence * 1e9 / rate);
            while (sensor_clock_ns() < due && !stop) {
            }
        }
        uint8_t *slot;
        size_t capacity;
        status = shmlane_producer_reserve(producer, 100 * 1000 * 1000, &slot, &capacity);
        if (status == SHMLANE_STATUS_TIMEOUT) continue; /* consumer slow or absent: look at `stop` */
        if (status == SHMLANE_STATUS_DISCONNECTED) break;
        if (status != SHMLANE_STATUS_OK) return fail("reserving", status);
        /* Fill the frame in place: the slot is the frame. */
        struct sensor_frame *frame = (struct sensor_frame *)(void *)slot;
        double t = (double)sequence / 1000.0;
        frame->sequence = sequence;
        frame->sensor_id = 7;
        frame->flags = 0;
        frame->values[0] = sin(t);
        frame->values[1] = cos(t);
        frame->values[2] = 9.81;
        frame->values[3] = 21.5 + 0.1 * sin(t / 60.0);
        frame->values[4] = 1013.25;
        frame->timestamp_ns = sensor_clock_ns();
        if ((status = shmlane_producer_commit(producer, sizeof *frame)) != SHMLANE_STATUS_OK) {
            return fail("committing", status);
        }
        sequence++;
    }
    shmlane_producer_close(producer);
    shmlane_ring_close(ring);
    fprintf(stderr, "sensor_producer: published %" PRIu64 " frames\n", sequence);
    return 0;
}
