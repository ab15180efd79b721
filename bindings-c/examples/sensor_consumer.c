/* Reads the sensor frames of sensor_producer (or of any producer of the same
 * 64-byte frames, in Rust or Go) in place, and prints the rate and the
 * latency percentiles from publish to read once a second.
 *
 *   sensor_consumer [--name NAME] [--count N]
 *
 * Sleeps on the ring's futex while no frame comes (no CPU while idle), and
 * stops when the producer has gone and the ring is drained, or after N
 * frames. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor.h"
#include "shmlane.h"

/* Latencies in buckets of powers of two nanoseconds, refined by 8 linear
 * steps each: about 12% resolution, no allocation. */
enum { BUCKETS = 64 * 8 };
static uint64_t histogram[BUCKETS];
static uint64_t samples;

static unsigned bucket_of(uint64_t ns) {
    if (ns < 8) return (unsigned)ns;
    unsigned power = 63u - (unsigned)__builtin_clzll(ns);
    unsigned step = (unsigned)((ns >> (power - 3)) & 7u);
    return power * 8 + step;
}

static uint64_t lower_bound_of(unsigned bucket) {
    unsigned power = bucket / 8, step = bucket % 8;
    if (power < 3) return bucket;
    return ((uint64_t)1 << power) + ((uint64_t)step << (power - 3));
}

static uint64_t percentile(double fraction) {
    uint64_t wanted = (uint64_t)(fraction * (double)samples), seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen > wanted) return lower_bound_of(i);
    }
    return 0;
}

static void report(uint64_t frames, uint64_t elapsed_ns, uint64_t max_ns) {
    printf("frames %10" PRIu64 "  rate %10.0f/s  latency p50 %6.1f us  p99 %7.1f us  p99.9 %7.1f us  max %8.1f us\n",
           frames, (double)samples * 1e9 / (double)elapsed_ns, (double)percentile(0.5) / 1e3,
           (double)percentile(0.99) / 1e3, (double)percentile(0.999) / 1e3, (double)max_ns / 1e3);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *name = SENSOR_RING_NAME;
    uint64_t count = UINT64_MAX;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0) name = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0) count = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: sensor_consumer [--name NAME] [--count N]\n");
            return 2;
        }
    }
    shmlane_ring_t *ring = NULL;
    shmlane_status status;
    /* Wait for the producer to create the ring. */
    for (int tries = 0; (status = shmlane_ring_open(name, &ring)) == SHMLANE_STATUS_NOT_FOUND && tries < 100; tries++) {
        struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (status != SHMLANE_STATUS_OK) {
        fprintf(stderr, "sensor_consumer: opening %s: %s\n", name, shmlane_last_error_message());
        return 1;
    }
    shmlane_consumer_t *consumer = NULL;
    if ((status = shmlane_consumer_open(ring, &consumer)) != SHMLANE_STATUS_OK) {
        fprintf(stderr, "sensor_consumer: joining: %s\n", shmlane_last_error_message());
        return 1;
    }
    shmlane_wait_strategy_t sleeping = shmlane_wait_strategy_sleeping();
    shmlane_consumer_set_wait_strategy(consumer, &sleeping);

    uint64_t frames = 0, expected = 0, gaps = 0, max_ns = 0;
    uint64_t window_start = sensor_clock_ns();
    while (frames < count) {
        const uint8_t *data;
        size_t len;
        status = shmlane_consumer_read(consumer, 1000 * 1000 * 1000, &data, &len);
        uint64_t now = sensor_clock_ns();
        if (status == SHMLANE_STATUS_OK) {
            /* Zero-copy: the frame is read where the producer wrote it. */
            const struct sensor_frame *frame = (const struct sensor_frame *)(const void *)data;
            uint64_t latency = now > frame->timestamp_ns ? now - frame->timestamp_ns : 0;
            if (frame->sequence != expected) gaps++;
            expected = frame->sequence + 1;
            shmlane_consumer_release(consumer);
            histogram[bucket_of(latency)]++;
            samples++;
            frames++;
            if (latency > max_ns) max_ns = latency;
        } else if (status == SHMLANE_STATUS_DISCONNECTED) {
            break;
        } else if (status != SHMLANE_STATUS_TIMEOUT) {
            fprintf(stderr, "sensor_consumer: %s\n", shmlane_last_error_message());
            return 1;
        }
        if (now - window_start >= 1000 * 1000 * 1000 && samples > 0) {
            report(frames, now - window_start, max_ns);
            memset(histogram, 0, sizeof histogram);
            samples = 0;
            max_ns = 0;
            window_start = now;
        }
    }
    if (samples > 0) report(frames, sensor_clock_ns() - window_start, max_ns);
    printf("done: %" PRIu64 " frames, %" PRIu64 " sequence gaps\n", frames, gaps);
    shmlane_consumer_close(consumer);
    shmlane_ring_close(ring);
    return gaps == 0 ? 0 : 1;
}
