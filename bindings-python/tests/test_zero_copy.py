"""Messages and slots lent in place through the buffer protocol."""

import ctypes
import gc

import numpy as np
import pytest

import shmlane
from conftest import message_for


def mapping_of(path):
    """The address ranges at which this process maps the file at `path`."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == path:
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def in_mapping(address, ranges):
    return any(start <= address < end for start, end in ranges)


def test_numpy_reads_a_message_in_place(ring):
    producer, consumer = ring.producer(), ring.consumer()
    values = np.arange(8, dtype=np.float64)
    producer.send(values.tobytes())
    with consumer.read() as message:
        array = np.frombuffer(message, dtype=np.float64)
        assert np.array_equal(array, values)
        # The array owns no data: its memory is the slot in the ring's mapping.
        assert not array.flags.owndata
        assert not array.flags.writeable
        assert array.base.obj is message
        assert in_mapping(array.ctypes.data, mapping_of(ring.path))
        del array


def test_numpy_writes_a_slot_in_place(ring):
    producer, consumer = ring.producer(), ring.consumer()
    with producer.reserve() as slot:
        assert len(slot) == ring.max_payload
        array = np.frombuffer(slot, dtype=np.uint8)
        assert array.flags.writeable and not array.flags.owndata
        assert in_mapping(array.ctypes.data, mapping_of(ring.path))
        array[:] = np.arange(len(slot), dtype=np.uint8)
        del array
        slot.commit(8 if not ring.fixed_size else None)
    expected = bytes(range(8 if not ring.fixed_size else ring.max_payload))
    assert consumer.recv() == expected


def test_a_message_is_read_only(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.send(message_for(ring, b"abc"))
    with consumer.read() as message:
        view = memoryview(message)
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        view.release()
        array = np.frombuffer(message, dtype=np.uint8)
        with pytest.raises(ValueError):
            array.setflags(write=True)
        del array
        # A writable export is refused (PyBUF_WRITABLE is 1).
        get_buffer = ctypes.pythonapi.PyObject_GetBuffer
        get_buffer.argtypes = [ctypes.py_object, ctypes.c_void_p, ctypes.c_int]
        py_buffer = ctypes.create_string_buffer(256)
        with pytest.raises(BufferError, match="read-only"):
            get_buffer(message, ctypes.addressof(py_buffer), 1)


def test_a_message_is_not_released_while_a_view_lives(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.send(message_for(ring, b"held"))
    message = consumer.read()
    view = memoryview(message)
    with pytest.raises(shmlane.ViewsAliveError) as raised:
        message.release()
    assert "1 buffer view: memoryview of" in str(raised.value)
    assert isinstance(raised.value, BufferError)
    assert not message.released
    # The next read refuses too: it would release the message first.
    with pytest.raises(shmlane.ViewsAliveError):
        consumer.try_read()
    assert bytes(view) == message_for(ring, b"held")
    view.release()
    message.release()
    assert message.released


def test_a_released_message_refuses_every_use(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.send(message_for(ring, b"gone"))
    with consumer.read() as message:
        pass
    assert message.released
    with pytest.raises(ValueError, match="released message"):
        memoryview(message)
    with pytest.raises(ValueError, match="released message"):
        bytes(message)
    message.release()  # releasing twice does nothing


def test_a_released_message_gives_its_slot_back(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"x")
    for _ in range(ring.capacity):
        producer.send(message)
    with consumer.read() as lent:
        assert producer.try_send(message) is False  # still lent: the ring is full
    assert lent.released
    assert producer.try_send(message) is True


def test_the_next_read_releases_a_message_without_views(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.send(message_for(ring, b"one"))
    producer.send(message_for(ring, b"two"))
    first = consumer.read()
    second = consumer.read()
    assert first.released and not second.released
    assert bytes(second) == message_for(ring, b"two")


def test_a_dropped_message_is_released(ring):
    producer, consumer = ring.producer(), ring.consumer()
    message = message_for(ring, b"x")
    for _ in range(ring.capacity):
        producer.send(message)
    lent = consumer.read()
    del lent
    gc.collect()
    assert producer.try_send(message) is True


def test_closing_a_consumer_with_live_views_fails_and_keeps_it_open(ring):
    producer, consumer = ring.producer(), ring.consumer()
    producer.send(message_for(ring, b"x"))
    message = consumer.read()
    array = np.frombuffer(message, dtype=np.uint8)
    with pytest.raises(shmlane.ViewsAliveError):
        consumer.close()
    assert not consumer.closed
    del array
    consumer.close()
    assert consumer.closed and message.released


def test_a_slot_is_not_committed_while_a_view_lives(ring):
    producer, consumer = ring.producer(), ring.consumer()
    slot = producer.reserve()
    view = memoryview(slot)
    view[:3] = b"abc"
    with pytest.raises(shmlane.ViewsAliveError, match="cannot release the slot"):
        slot.commit(3 if not ring.fixed_size else None)
    assert consumer.try_recv() is None
    view.release()
    slot.commit(3 if not ring.fixed_size else None)
    assert consumer.recv()[:3] == b"abc"
    with pytest.raises(ValueError, match="released slot"):
        memoryview(slot)


def test_a_slot_left_uncommitted_publishes_nothing(ring):
    producer, consumer = ring.producer(), ring.consumer()
    with producer.reserve() as slot:
        memoryview(slot)[:1] = b"z"
    assert slot.released
    assert consumer.try_recv() is None
    producer.send(message_for(ring, b"after"))
    assert consumer.recv() == message_for(ring, b"after")


def test_a_negative_commit_length_raises_value_error(ring):
    producer = ring.producer()
    with producer.reserve() as slot:
        with pytest.raises(ValueError, match="not negative"):
            slot.commit(-1)


def test_a_commit_past_max_payload_raises_and_gives_the_slot_up(name):
    ring = shmlane.create(name, capacity=8, max_payload=8)
    producer, consumer = ring.producer(), ring.consumer()
    slot = producer.reserve()
    with pytest.raises(shmlane.MessageTooLargeError):
        slot.commit(9)
    assert slot.released
    assert consumer.try_recv() is None
