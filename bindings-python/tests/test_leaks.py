"""Many messages through every path leave memory, reference counts and
buffer exports as they were."""

import gc
import sys
import tracemalloc

import numpy as np

import shmlane

# A million messages by copy and through memoryviews; through numpy arrays,
# two per message and slower to make, fewer.
COPIED = 1_000_000
LENT = 200_000


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def run_steadily(step, times):
    """Runs `step` `times` times after a warm-up, and returns how much the
    traced Python memory and the resident set grew."""
    for _ in range(1000):
        step()
    gc.collect()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    resident_before = resident_bytes()
    for _ in range(times):
        step()
    gc.collect()
    traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    return traced_growth, resident_bytes() - resident_before


# Limits far above any allocator noise, and far below what a leak of one
# 64-byte message (or one object) per message would show: 12.8 MB and more.
TRACED_LIMIT = 64 * 1024
RESIDENT_LIMIT = 4 * 1024 * 1024


def test_send_and_recv_leak_nothing(name):
    ring = shmlane.create(name, capacity=64, max_payload=64)
    producer, consumer = ring.producer(), ring.consumer()
    payload = b"m" * 64
    payload_refs = sys.getrefcount(payload)

    def step():
        producer.send(payload)
        assert consumer.recv() == payload

    traced, resident = run_steadily(step, COPIED)
    assert traced < TRACED_LIMIT
    assert resident < RESIDENT_LIMIT
    assert sys.getrefcount(payload) == payload_refs


def test_zero_copy_views_leak_nothing(name):
    ring = shmlane.create(name, capacity=64, max_payload=64)
    producer, consumer = ring.producer(), ring.consumer()
    consumer_refs = sys.getrefcount(consumer)
    producer_refs = sys.getrefcount(producer)
    record = b"r" * 16

    def step():
        with producer.reserve() as slot:
            with memoryview(slot) as view:
                view[:16] = record
            slot.commit(16)
        with consumer.read() as message, memoryview(message) as view:
            assert view[15] == 114

    traced, resident = run_steadily(step, COPIED)
    assert traced < TRACED_LIMIT
    assert resident < RESIDENT_LIMIT
    # No Message or Slot is left holding its handle, and no export is alive:
    # the handles close without a ViewsAliveError.
    assert sys.getrefcount(consumer) == consumer_refs
    assert sys.getrefcount(producer) == producer_refs
    consumer.close()
    producer.close()


def test_numpy_views_leak_nothing(name):
    ring = shmlane.create(name, capacity=64, max_payload=64)
    producer, consumer = ring.producer(), ring.consumer()
    consumer_refs = sys.getrefcount(consumer)

    def step():
        with producer.reserve() as slot:
            np.frombuffer(slot, dtype=np.uint64)[:2] = (7, 8)
            slot.commit(16)
        with consumer.read() as message:
            values = np.frombuffer(message, dtype=np.uint64)
            assert values[1] == 8
            del values

    traced, resident = run_steadily(step, LENT)
    assert traced < TRACED_LIMIT
    assert resident < RESIDENT_LIMIT
    assert sys.getrefcount(consumer) == consumer_refs
    consumer.close()
