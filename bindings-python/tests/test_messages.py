"""Sending and receiving by copy, on every kind of ring."""

import numpy as np
import pytest

import shmlane
from conftest import message_for


def test_send_then_recv_gives_the_bytes_back(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"hello")
    assert producer.send(message) is True
    received = consumer.recv()
    assert type(received) is bytes
    assert received == message


def test_any_bytes_like_object_can_be_sent(ring):
    producer, consumer = ring.producer(), ring.consumer()
    body = message_for(ring, b"bytes-like")
    for sent in (body, bytearray(body), memoryview(body), memoryview(bytearray(body))):
        assert producer.try_send(sent)
        assert consumer.try_recv() == body


def test_a_non_contiguous_or_non_buffer_argument_raises_type_error(ring):
    producer = ring.producer()
    with pytest.raises(TypeError, match="bytes-like"):
        producer.send("a str is not bytes")
    with pytest.raises(TypeError, match="bytes-like"):
        producer.send(memoryview(b"abcdefgh")[::2])


def test_try_recv_on_an_empty_ring_is_none(ring):
    producer, consumer = ring.producer(), ring.consumer()
    assert consumer.try_recv() is None
    assert consumer.try_read() is None
    del producer


def test_try_send_on_a_full_ring_is_false(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"x")
    sent = 0
    while producer.try_send(message):
        sent += 1
    assert sent == ring.capacity
    assert producer.try_send(message) is False
    assert producer.try_reserve() is None
    assert consumer.try_recv() == message
    assert producer.try_send(message) is True  # room for one again


def test_a_wait_that_runs_out_returns_none_or_false(ring):
    producer, consumer = ring.producer(), ring.consumer()
    assert consumer.recv(timeout=0.01) is None
    assert consumer.read(timeout=0) is None
    message = message_for(ring, b"x")
    for _ in range(ring.capacity):
        producer.send(message)
    assert producer.send(message, timeout=0.01) is False
    assert producer.reserve(timeout=0.01) is None


@pytest.mark.parametrize("timeout", [-1, -0.5, float("nan")])
def test_a_negative_or_nan_timeout_raises_value_error(ring, timeout):
    consumer = ring.consumer()
    with pytest.raises(ValueError, match="timeout"):
        consumer.recv(timeout=timeout)


def test_a_timeout_that_is_not_a_number_raises_type_error(ring):
    consumer = ring.consumer()
    with pytest.raises(TypeError):
        consumer.recv(timeout="1")


def test_a_message_longer_than_max_payload_raises_message_too_large(name):
    ring = shmlane.create(name, capacity=8, max_payload=8)
    producer = ring.producer()
    with pytest.raises(shmlane.MessageTooLargeError) as raised:
        producer.send(b"x" * 9)
    assert str(raised.value) == "message of 9 bytes exceeds the ring's maximum of 8 bytes"
    assert isinstance(raised.value, ValueError)


def test_messages_arrive_in_order_through_wrap_around(ring):
    producer, consumer = ring.producer(), ring.consumer()
    for number in range(5 * ring.capacity):
        producer.send(message_for(ring, number.to_bytes(4, "little")))
        assert consumer.recv() == message_for(ring, number.to_bytes(4, "little"))


def test_iteration_ends_when_the_producer_is_gone_and_the_ring_drained(ring):
    producer, consumer = ring.producer(), ring.consumer()
    sent = [message_for(ring, bytes([n])) for n in range(5)]
    for message in sent:
        producer.send(message)
    producer.close()
    assert list(consumer) == sent


def test_recv_after_the_producer_left_raises_disconnected(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.close()
    with pytest.raises(shmlane.DisconnectedError, match="closed or died"):
        consumer.recv()
    assert consumer.is_disconnected()


def test_send_to_a_full_ring_without_consumers_raises_disconnected(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"x")
    while producer.try_send(message):
        pass
    consumer.close()
    with pytest.raises(shmlane.DisconnectedError):
        producer.send(message)


def test_batches_receive_several_messages_at_once(ring):
    producer, consumer = ring.producer(), ring.consumer()
    sent = [message_for(ring, bytes([n])) for n in range(6)]
    for message in sent:
        producer.send(message)
    first = consumer.try_recv_batch(4)
    rest = consumer.try_recv_batch(4)
    assert first + rest == sent
    assert len(first) == 4
    assert consumer.try_recv_batch(4) == []


def test_handles_are_context_managers_that_close(ring):
    with ring.producer() as producer, ring.consumer() as consumer:
        assert not producer.closed and not consumer.closed
    assert producer.closed and consumer.closed
    with pytest.raises(ValueError, match="closed producer"):
        producer.send(b"x")
    with pytest.raises(ValueError, match="closed consumer"):
        consumer.recv()
    producer.close()  # closing twice does nothing


def test_handles_describe_their_ring(ring):
    producer, consumer = ring.producer(), ring.consumer()
    assert producer.kind == consumer.kind == ring.kind
    assert producer.capacity == consumer.capacity == ring.capacity
    assert producer.max_payload == consumer.max_payload == ring.max_payload
    assert "Producer" in repr(producer) and "Consumer" in repr(consumer)


def test_mpmc_rings_take_several_producers_and_consumers(name):
    ring = shmlane.create(name, kind="mpmc", capacity=16, max_payload=8, max_participants=4)
    producers = [ring.producer(), ring.producer()]
    consumers = [ring.consumer(), ring.consumer()]
    for number, producer in enumerate(producers * 3):
        producer.send(bytes([number]))
    received = []
    for consumer in consumers * 3:
        received.append(consumer.recv())
    assert sorted(received) == [bytes([n]) for n in range(6)]
    with pytest.raises(shmlane.TooManyParticipantsError):
        ring.producer()


def test_try_send_batch_sends_what_fits_in_order(ring):
    producer, consumer = ring.producer(), ring.consumer()
    messages = [message_for(ring, bytes([n])) for n in range(ring.capacity + 3)]
    assert producer.try_send_batch(messages) == ring.capacity
    assert consumer.try_recv_batch(100) == messages[: ring.capacity]
    assert producer.try_send_batch(iter(messages[ring.capacity :])) == 3
    assert consumer.recv_batch(100) == messages[ring.capacity :]


def test_a_batch_with_a_misfit_sends_nothing(name):
    ring = shmlane.create(name, capacity=8, max_payload=8)
    producer, consumer = ring.producer(), ring.consumer()
    with pytest.raises(shmlane.MessageTooLargeError) as raised:
        producer.send_batch([b"fits", b"x" * 9, b"fits"])
    assert str(raised.value) == "message of 9 bytes exceeds the ring's maximum of 8 bytes"
    assert consumer.try_recv() is None
    with pytest.raises(TypeError, match="bytes-like"):
        producer.send_batch([b"fits", "text"])
    assert consumer.try_recv() is None


def test_send_batch_waits_for_room_until_its_timeout(ring):
    producer, consumer = ring.producer(), ring.consumer()
    messages = [message_for(ring, bytes([n])) for n in range(ring.capacity + 2)]
    # Nobody reads: the messages past the capacity find no room in time.
    assert producer.send_batch(messages, timeout=0.01) == ring.capacity
    assert consumer.recv_batch(100, timeout=0.01) == messages[: ring.capacity]
    assert consumer.recv_batch(100, timeout=0.01) == []
    assert consumer.recv_batch(0) == []


def test_recv_into_copies_into_a_buffer_of_the_caller(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"into")
    buffer = bytearray(ring.max_payload)
    assert consumer.try_recv_into(buffer) is None
    producer.send(message)
    assert consumer.recv_into(buffer) == len(message)
    assert bytes(buffer[: len(message)]) == message
    array = np.zeros(ring.max_payload, dtype=np.uint8)
    producer.send(message)
    assert consumer.recv_into(array, timeout=60) == len(message)
    assert array[: len(message)].tobytes() == message
    assert consumer.recv_into(buffer, timeout=0.01) is None


def test_recv_into_a_small_buffer_keeps_the_message(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"a longer message")
    producer.send(message)
    with pytest.raises(shmlane.BufferTooSmallError, match="the next read returns it"):
        consumer.try_recv_into(bytearray(4))
    assert consumer.recv() == message


def test_recv_into_a_read_only_buffer_raises_type_error(ring):
    consumer = ring.consumer()
    with pytest.raises(TypeError, match="writable bytes-like"):
        consumer.try_recv_into(b"read-only")
