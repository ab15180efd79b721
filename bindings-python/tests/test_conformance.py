"""Python against the conformance peers of the other languages, across
processes (conformance/README.md): a Python producer to each peer's
consumer and each peer's producer to a Python consumer, on SPSC and MPMC
rings, every message checksummed, read and written zero-copy.

The peers are the programs that SHMLANE_PEER_RUST, SHMLANE_PEER_C and
SHMLANE_PEER_GO name (scripts/test-python.sh builds the Rust one;
scripts/test-all.sh builds the C and Go ones first). A peer that is not
there is skipped, unless SHMLANE_PEERS_REQUIRED names its language.
"""

import os
import struct
import subprocess
import time

import pytest

import shmlane

FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = (1 << 64) - 1
SIZE = 64
COUNT = 20_000
PRODUCER_ID = 7


def fnv1a(data):
    value = FNV_OFFSET_BASIS
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & MASK
    return value


def encode(sequence, producer, size=SIZE):
    """The test message of conformance/README.md."""
    head = struct.pack("<QII", sequence, producer, size)
    filler = bytes((sequence * 31 + offset) & 0xFF for offset in range(16, size - 8))
    body = head + filler
    return body + struct.pack("<Q", fnv1a(body))


def check(message):
    """(producer, sequence) of a received message; raises on a bad one."""
    size = len(message)
    assert size >= 24, f"message of {size} bytes"
    sequence, producer, claimed = struct.unpack_from("<QII", message)
    assert claimed == size, f"message {sequence} says {claimed} bytes, has {size}"
    assert struct.unpack_from("<Q", message, size - 8)[0] == fnv1a(message[: size - 8]), (
        f"message {sequence} of producer {producer}: checksum mismatch"
    )
    expected = bytes((sequence * 31 + offset) & 0xFF for offset in range(16, size - 8))
    assert bytes(message[16 : size - 8]) == expected, f"message {sequence}: filler wrong"
    return producer, sequence


def test_the_message_format_matches_the_reference_value():
    message = encode(1, 2, 32)
    assert list(message[16:24]) == list(range(47, 55))
    assert struct.unpack_from("<Q", message, 24)[0] == 0x4E3FD23BB712E37E
    assert check(message) == (2, 1)


def peer_program(language):
    program = os.environ.get(f"SHMLANE_PEER_{language.upper()}")
    required = os.environ.get("SHMLANE_PEERS_REQUIRED", "").split(",")
    if not program:
        if language in required:
            pytest.fail(f"SHMLANE_PEER_{language.upper()} is not set, and "
                        f"SHMLANE_PEERS_REQUIRED names {language}")
        pytest.skip(f"SHMLANE_PEER_{language.upper()} not set")
    assert os.path.isfile(program), f"{program} is not a file"
    return program


LANGUAGES = ["rust", "c", "go"]
KINDS = ["spsc", "mpmc"]


def run_peer(program, *args):
    """Runs a peer to its end; its stdout. The timeout guards against a hang."""
    done = subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"peer failed: {done.stderr}{done.stdout}"
    return done.stdout


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_python_producer_feeds_a_peer_consumer(language, kind, tmp_path):
    program = peer_program(language)
    path = tmp_path / "ring"
    # Python creates the ring; the peer opens it.
    ring = shmlane.create(path, kind=kind, capacity=256, max_payload=SIZE, max_participants=4)
    consumer = subprocess.Popen(
        [program, "consume", "--path", str(path), "--wait", "block", "--producers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with ring.producer() as producer:
            for sequence in range(COUNT):
                with producer.reserve(timeout=60) as slot:
                    with memoryview(slot) as view:
                        view[:SIZE] = encode(sequence, PRODUCER_ID)
                    slot.commit(SIZE)
        stdout, stderr = consumer.communicate(timeout=120)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert consumer.returncode == 0, f"{language} consumer failed: {stderr}"
    seqsum = COUNT * (COUNT - 1) // 2
    assert stdout.splitlines() == [
        f"producer={PRODUCER_ID} count={COUNT} first=0 last={COUNT - 1} seqsum={seqsum}",
        f"consumed total={COUNT} end=disconnected",
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_peer_producer_feeds_a_python_consumer(language, kind, tmp_path):
    program = peer_program(language)
    path = tmp_path / "ring"
    # The peer creates the ring; Python opens it.
    slot_size = SIZE + (8 if kind == "spsc" else 16)
    run_peer(program, "create", "--path", str(path), "--kind", kind,
             "--capacity", "256", "--slot-size", str(slot_size))
    producer = subprocess.Popen(
        [program, "produce", "--path", str(path), "--count", str(COUNT),
         "--id", str(PRODUCER_ID), "--size", str(SIZE), "--wait", "block"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    received = 0
    last = -1
    try:
        with shmlane.open(path, kind=kind).consumer() as consumer:
            while True:
                try:
                    message = consumer.read(timeout=60)
                except shmlane.DisconnectedError:
                    if producer.poll() is None:
                        # Not joined yet, as the peers' --producers says.
                        time.sleep(0.001)
                        continue
                    break
                assert message is not None, "no message within a minute"
                with message, memoryview(message) as view:
                    producer_id, sequence = check(view)
                assert producer_id == PRODUCER_ID
                assert sequence == last + 1
                last = sequence
                received += 1
        stdout, stderr = producer.communicate(timeout=120)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    assert producer.returncode == 0, f"{language} producer failed: {stderr}"
    assert stdout.strip() == f"produced id={PRODUCER_ID} count={COUNT}"
    assert received == COUNT
