/* The sensor frame of the shmlane examples (C here, Rust and Go elsewhere):
 * 64 bytes, little-endian, one frame per message of a fixed-size ring.
 *
 *   offset  size  field
 *        0     8  sequence      frame number from 0, per producer
 *        8     8  timestamp_ns  CLOCK_MONOTONIC when the frame was published
 *       16     4  sensor_id     which simulated sensor
 *       20     4  flags         0
 *       24    40  values        5 x IEEE-754 double: acceleration x, y, z (m/s^2),
 *                               temperature (deg C), pressure (hPa)
 */
#ifndef SHMLANE_SENSOR_H
#define SHMLANE_SENSOR_H

#include <stdint.h>
#include <time.h>

struct sensor_frame {
    uint64_t sequence;
    uint64_t timestamp_ns;
    uint32_t sensor_id;
    uint32_t flags;
    double values[5];
};

_Static_assert(sizeof(struct sensor_frame) == 64, "a sensor frame is 64 bytes");

/* The ring the examples use when given no name: /dev/shm/shmlane-sensors. */
#define SENSOR_RING_NAME "shmlane-sensors"

static inline uint64_t sensor_clock_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

#endif
