"""Blocking calls: the GIL is released while they wait, and Ctrl-C ends them."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import shmlane


def test_another_thread_runs_while_recv_waits(name):
    ring = shmlane.create(name, capacity=8, max_payload=16)
    producer, consumer = ring.producer(), ring.consumer()
    received = []
    waiting = threading.Event()

    def wait_for_one():
        waiting.set()
        # Long enough never to run out on a loaded machine: the message
        # only arrives if this thread lets the main thread run meanwhile.
        received.append(consumer.recv(timeout=60))

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    waiting.wait()
    # Python code that needs the GIL, run while the waiter is inside recv.
    progress = sum(range(100_000))
    producer.send(b"from main")
    waiter.join()
    assert progress == 4_999_950_000
    assert received == [b"from main"]


def test_another_thread_runs_while_send_waits_for_room(name):
    ring = shmlane.create(name, capacity=2, max_payload=16)
    producer, consumer = ring.producer(), ring.consumer()
    while producer.try_send(b"fill"):
        pass
    outcome = []
    waiting = threading.Event()

    def send_one():
        waiting.set()
        outcome.append(producer.send(b"late", timeout=60))

    sender = threading.Thread(target=send_one)
    sender.start()
    waiting.wait()
    first = consumer.recv()
    sender.join()
    assert first == b"fill"
    assert outcome == [True]
    assert [consumer.recv(), consumer.recv()] == [b"fill", b"late"]


def test_zero_copy_reads_wait_with_the_gil_released(name):
    ring = shmlane.create(name, capacity=8, max_payload=16)
    producer, consumer = ring.producer(), ring.consumer()
    seen = []
    waiting = threading.Event()

    def read_one():
        waiting.set()
        with consumer.read(timeout=60) as message:
            seen.append(bytes(message))

    reader = threading.Thread(target=read_one)
    reader.start()
    waiting.wait()
    producer.send(b"in place")
    reader.join()
    assert seen == [b"in place"]


INTERRUPTED = textwrap.dedent(
    """
    import sys
    import shmlane

    ring = shmlane.open(sys.argv[1])
    consumer = ring.consumer()
    producer = ring.producer()
    while producer.try_send(b"fill"):
        pass
    call = sys.argv[2]
    print("waiting", flush=True)
    try:
        if call == "recv":
            consumer.try_recv_batch(1000)  # empty the ring: recv must wait
            consumer.recv()
        else:
            producer.send(b"no room")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # The ring is consistent after the interrupted wait.
    consumer.try_recv_batch(1000)
    producer.send(b"after")
    assert consumer.recv() == b"after"
    print("consistent", flush=True)
    """
)


def run_interrupted(name, call):
    shmlane.create(name, kind="mpmc", capacity=8, max_payload=16, max_participants=4)
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, name, call],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "waiting\n"
        # Give the child time to enter the wait; a signal that came earlier
        # would still interrupt it, so the outcome checked does not depend
        # on this time.
        threading.Event().wait(0.3)
        child.send_signal(signal.SIGINT)
        # A guard against a hang, not a measure: a wait that ignored the
        # signal would never end.
        output = child.communicate(timeout=30)[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert output == "interrupted\nconsistent\n"


def test_ctrl_c_interrupts_recv(name):
    run_interrupted(name, "recv")


def test_ctrl_c_interrupts_send_on_a_full_ring(name):
    run_interrupted(name, "send")


def test_send_batch_waits_while_another_thread_drains(name):
    ring = shmlane.create(name, capacity=4, max_payload=16)
    producer, consumer = ring.producer(), ring.consumer()
    messages = [bytes([n]) for n in range(40)]
    received = []

    def drain():
        while len(received) < len(messages):
            received.extend(consumer.recv_batch(8, timeout=60))

    drainer = threading.Thread(target=drain)
    drainer.start()
    sent = producer.send_batch(messages, timeout=60)
    drainer.join()
    assert sent == len(messages)
    assert received == messages


def test_a_second_call_on_a_waiting_handle_fails_and_its_properties_read(name):
    ring = shmlane.create(name, capacity=8, max_payload=16)
    producer, consumer = ring.producer(), ring.consumer()
    received = []
    waiting = threading.Event()

    def wait_for_one():
        waiting.set()
        received.append(consumer.recv(timeout=60))

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    waiting.wait()
    # Until the waiter is inside recv, a call here may still get in: try
    # until one meets the waiting call (a try_recv that gets in finds the
    # ring empty and changes nothing).
    for _ in range(60_000):
        try:
            consumer.try_recv()
        except RuntimeError as error:
            assert "in use by another thread's call" in str(error)
            break
        threading.Event().wait(0.001)
    else:
        raise AssertionError("no call met the waiting recv")
    assert (consumer.kind, consumer.capacity, consumer.closed) == ("spsc", 8, False)
    producer.send(b"done")
    waiter.join()
    assert received == [b"done"]
