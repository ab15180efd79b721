"""Python rates of shmlane against the standard library's ways between two
processes, measured in one run (issue 19's benchmark).

Each case moves messages from a producer process to a consumer process and
reports the consumer's rate from its first message to its last:

- shmlane `send`/`recv` (copies on both sides) and `send`/`read` (the
  consumer reads in place through a memoryview), on an SPSC ring;
- `multiprocessing.Queue` (pickles, a pipe and a feeder thread);
- a Unix socket pair, one `sendall` and one `recv_into` per message;
- `multiprocessing.shared_memory` with a pipe for signalling: one slot,
  written by the producer, then a byte on a pipe, read by the consumer,
  then a byte back.

for 64-byte and 64 KiB messages; then a 1 MiB numpy array handed over
zero-copy (`reserve` + copy into the slot, `read` + a view) against one
in-process copy of it. Ratios are read within one run: absolute rates drift
on a shared machine. Not a test: nothing here passes or fails on a time.

    python bench/bench.py [--quick] [--json FILE]
"""

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
import uuid
from multiprocessing import shared_memory

import numpy as np

import shmlane

CONTEXT = multiprocessing.get_context("fork")


def ring_name():
    return f"bench-py-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- shmlane


def shmlane_producer(name, size, count):
    producer = shmlane.open(name).producer()
    message = b"m" * size
    send = producer.send
    for _ in range(count):
        send(message)
    producer.close()


def shmlane_copy(size, count):
    name = ring_name()
    ring = shmlane.create(name, capacity=1024 if size <= 4096 else 64, max_payload=size)
    consumer = ring.consumer()
    child = CONTEXT.Process(target=shmlane_producer, args=(name, size, count))
    child.start()
    recv = consumer.recv
    first = recv()
    started = time.perf_counter()
    for _ in range(count - 1):
        recv()
    elapsed = time.perf_counter() - started
    child.join()
    shmlane.remove(name)
    assert len(first) == size
    return (count - 1) / elapsed


def shmlane_zero_copy(size, count):
    name = ring_name()
    ring = shmlane.create(name, capacity=1024 if size <= 4096 else 64, max_payload=size)
    consumer = ring.consumer()
    child = CONTEXT.Process(target=shmlane_producer, args=(name, size, count))
    child.start()
    read = consumer.read
    with read() as message:
        assert len(message) == size
    started = time.perf_counter()
    for _ in range(count - 1):
        with read() as message, memoryview(message) as view:
            view[0]
    elapsed = time.perf_counter() - started
    child.join()
    shmlane.remove(name)
    return (count - 1) / elapsed


# ------------------------------------------------------- the standard library


def queue_producer(queue, size, count):
    message = b"m" * size
    put = queue.put
    for _ in range(count):
        put(message)


def mp_queue(size, count):
    queue = CONTEXT.Queue(maxsize=1024)
    child = CONTEXT.Process(target=queue_producer, args=(queue, size, count))
    child.start()
    get = queue.get
    get()
    started = time.perf_counter()
    for _ in range(count - 1):
        get()
    elapsed = time.perf_counter() - started
    child.join()
    return (count - 1) / elapsed


def socket_producer(sock, size, count):
    message = b"m" * size
    sendall = sock.sendall
    for _ in range(count):
        sendall(message)
    sock.close()


def recv_exactly(sock, view):
    got = 0
    while got < len(view):
        got += sock.recv_into(view[got:])


def socket_pair(size, count):
    ours, theirs = socket.socketpair()
    child = CONTEXT.Process(target=socket_producer, args=(theirs, size, count))
    child.start()
    theirs.close()
    buffer = bytearray(size)
    view = memoryview(buffer)
    recv_exactly(ours, view)
    started = time.perf_counter()
    for _ in range(count - 1):
        recv_exactly(ours, view)
    elapsed = time.perf_counter() - started
    child.join()
    ours.close()
    return (count - 1) / elapsed


def shm_producer(shm_name, ready_w, done_r, size, count):
    shm = shared_memory.SharedMemory(name=shm_name)
    message = b"m" * size
    for _ in range(count):
        shm.buf[:size] = message
        os.write(ready_w, b"r")
        os.read(done_r, 1)
    shm.close()


def shm_with_pipe(size, count):
    shm = shared_memory.SharedMemory(create=True, size=size)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    child = CONTEXT.Process(target=shm_producer, args=(shm.name, ready_w, done_r, size, count))
    child.start()
    copy = bytearray(size)

    def one():
        os.read(ready_r, 1)
        copy[:] = shm.buf[:size]
        os.write(done_w, b"d")

    one()
    started = time.perf_counter()
    for _ in range(count - 1):
        one()
    elapsed = time.perf_counter() - started
    child.join()
    shm.close()
    shm.unlink()
    for fd in (ready_r, ready_w, done_r, done_w):
        os.close(fd)
    return (count - 1) / elapsed


# ------------------------------------------------------------ numpy hand-off


def array_producer(name, count):
    producer = shmlane.open(name).producer()
    frame = np.arange(1 << 17, dtype=np.float64)  # 1 MiB
    for _ in range(count):
        with producer.reserve() as slot:
            np.copyto(np.frombuffer(slot, dtype=np.float64), frame)
            slot.commit()
    producer.close()


def numpy_handoff(count):
    name = ring_name()
    ring = shmlane.create(name, capacity=8, max_payload=1 << 20)
    consumer = ring.consumer()
    child = CONTEXT.Process(target=array_producer, args=(name, count))
    child.start()
    with consumer.read() as message:
        assert np.frombuffer(message, dtype=np.float64)[-1] == (1 << 17) - 1
    started = time.perf_counter()
    for _ in range(count - 1):
        with consumer.read() as message:
            frame = np.frombuffer(message, dtype=np.float64)
            frame[-1]
            del frame
    elapsed = time.perf_counter() - started
    child.join()
    shmlane.remove(name)
    return (count - 1) / elapsed


def memcpy_rate(count):
    source = np.arange(1 << 17, dtype=np.float64)
    target = np.empty_like(source)
    np.copyto(target, source)
    started = time.perf_counter()
    for _ in range(count):
        np.copyto(target, source)
    return count / (time.perf_counter() - started)


# ------------------------------------------------------------------ report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few messages: a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the rates as JSON")
    arguments = parser.parse_args()
    small = 2_000 if arguments.quick else 200_000
    large = 200 if arguments.quick else 20_000
    arrays = 20 if arguments.quick else 2_000

    cases = {
        "shmlane send/recv": shmlane_copy,
        "shmlane send/read (in place)": shmlane_zero_copy,
        "multiprocessing.Queue": mp_queue,
        "socket pair": socket_pair,
        "shared_memory + pipe": shm_with_pipe,
    }
    results = {}
    for size, count in ((64, small), (64 * 1024, large)):
        for case, run in cases.items():
            results[f"{case} {size} B"] = run(size, count)
    results["numpy 1 MiB hand-off"] = numpy_handoff(arrays)
    results["numpy 1 MiB memcpy (one process)"] = memcpy_rate(arrays)

    print(f"{'case':44} {'messages/s':>14} {'MB/s':>10}")
    for case, rate in results.items():
        size = 1 << 20 if "1 MiB" in case else int(case.split()[-2])
        print(f"{case:44} {rate:14,.0f} {rate * size / 1e6:10,.0f}")
    ratios = {
        "64 B send/recv / multiprocessing.Queue (target >= 10)": results[
            "shmlane send/recv 64 B"] / results["multiprocessing.Queue 64 B"],
        "64 B read in place / multiprocessing.Queue": results[
            "shmlane send/read (in place) 64 B"] / results["multiprocessing.Queue 64 B"],
        "64 KiB send/recv / socket pair": results[
            "shmlane send/recv 65536 B"] / results["socket pair 65536 B"],
        "1 MiB hand-off / memcpy (target >= 0.8)": results[
            "numpy 1 MiB hand-off"] / results["numpy 1 MiB memcpy (one process)"],
    }
    print()
    for ratio, value in ratios.items():
        print(f"{ratio:56} {value:8.2f}x")
    if arguments.json:
        with open(arguments.json, "w") as out:
            json.dump({"rates": results, "ratios": ratios}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
