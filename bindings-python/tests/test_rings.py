"""Creating, opening and removing rings, and the errors of bad input."""

import os
import pathlib

import pytest

import shmlane


def test_create_by_name_lives_in_dev_shm(name):
    with shmlane.create(name, capacity=16, max_payload=100) as ring:
        assert ring.path == f"/dev/shm/{name}"
        assert ring.kind == "spsc"
        assert ring.capacity == 16
        assert ring.max_payload >= 100
        assert not ring.fixed_size
    assert os.path.exists(f"/dev/shm/{name}")


def test_open_finds_what_create_made(name):
    shmlane.create(name, kind="mpmc", capacity=32, max_payload=48, max_participants=4)
    ring = shmlane.open(name)
    assert (ring.kind, ring.capacity, ring.max_payload) == ("mpmc", 32, 48)


def test_a_path_is_a_file_anywhere(tmp_path):
    path = tmp_path / "ring"
    with shmlane.create(path, capacity=8, max_payload=16) as ring:
        assert ring.path == str(path)
        producer = ring.producer()
        producer.send(b"by path")
    consumer = shmlane.open(path).consumer()
    assert consumer.recv() == b"by path"
    shmlane.remove(path)
    assert not path.exists()


def test_slot_size_sizes_the_slot_header_included(name):
    ring = shmlane.create(name, capacity=8, slot_size=64)
    assert ring.max_payload == 56


def test_fixed_size_rings_carry_messages_of_one_size(name):
    ring = shmlane.create(name, capacity=8, max_payload=16, fixed_size=True)
    assert ring.fixed_size and ring.max_payload == 16
    producer = ring.producer()
    with pytest.raises(shmlane.WrongMessageSizeError, match="fixed-size messages of 16 bytes"):
        producer.send(b"short")


def test_open_of_a_missing_ring_raises_not_found(name):
    with pytest.raises(shmlane.NotFoundError) as raised:
        shmlane.open(name)
    assert str(raised.value) == f"no ring at /dev/shm/{name}"
    assert raised.value.kind == "NotFound"
    assert raised.value.path == f"/dev/shm/{name}"
    assert isinstance(raised.value, FileNotFoundError)


def test_create_over_an_existing_ring_raises_already_exists(name):
    shmlane.create(name, capacity=8, max_payload=8)
    with pytest.raises(shmlane.AlreadyExistsError, match="a file already exists") as raised:
        shmlane.create(name, capacity=8, max_payload=8)
    assert isinstance(raised.value, FileExistsError)


def test_a_name_with_a_slash_points_to_pathlib():
    with pytest.raises(shmlane.BadNameError) as raised:
        shmlane.create("a/b", capacity=8, max_payload=8)
    assert str(raised.value) == (
        "bad ring name \"a/b\": it may not contain '/'; to give a path, pass a pathlib.Path"
    )
    assert isinstance(raised.value, ValueError)


def test_a_shared_mode_is_refused_with_the_python_remedy(name):
    shmlane.create(name, capacity=8, max_payload=8, mode=0o666)
    with pytest.raises(shmlane.PermissionDeniedError) as raised:
        shmlane.open(name)
    assert str(raised.value).endswith(
        "to accept that, open it with shmlane.open(..., allow_shared_mode=True)"
    )
    assert isinstance(raised.value, PermissionError)
    assert shmlane.open(name, allow_shared_mode=True).kind == "spsc"


def test_open_with_another_kind_raises_wrong_kind(name):
    shmlane.create(name, capacity=8, max_payload=8)
    with pytest.raises(shmlane.WrongKindError, match="ring is spsc, expected mpmc"):
        shmlane.open(name, kind="mpmc")


def test_a_file_that_is_no_ring_raises_not_a_ring(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\x01" * 8192)
    with pytest.raises(shmlane.NotARingError, match="not a shmlane ring"):
        shmlane.open(path)


def test_capacity_not_a_power_of_two_raises_bad_geometry(name):
    with pytest.raises(shmlane.BadGeometryError, match="bad ring geometry") as raised:
        shmlane.create(name, capacity=10, max_payload=8)
    assert isinstance(raised.value, ValueError)


def test_a_second_spsc_producer_raises_role_taken(name):
    ring = shmlane.create(name, capacity=8, max_payload=8)
    first = ring.producer()
    with pytest.raises(shmlane.RoleTakenError, match="a live producer is already attached"):
        ring.producer()
    first.close()
    ring.producer()  # the role is free again


@pytest.mark.parametrize(
    "arguments, error",
    [
        (dict(capacity=8), ValueError),  # no size
        (dict(capacity=8, max_payload=8, slot_size=16), ValueError),
        (dict(capacity=-8, max_payload=8), ValueError),
        (dict(capacity=8, max_payload=-1), ValueError),
        (dict(capacity=8, max_payload=8, kind="broadcast"), ValueError),
        (dict(capacity="8", max_payload=8), TypeError),
    ],
)
def test_bad_create_arguments_raise_type_or_value_errors(name, arguments, error):
    with pytest.raises(error):
        shmlane.create(name, **arguments)
    assert not os.path.exists(f"/dev/shm/{name}")


def test_a_ring_is_named_by_str_or_path_only():
    with pytest.raises(TypeError, match="a name \\(str\\) or a path"):
        shmlane.open(42)


def test_remove_of_a_missing_ring_raises_not_found(name):
    with pytest.raises(shmlane.NotFoundError):
        shmlane.remove(name)


def test_a_closed_ring_refuses_use(name):
    ring = shmlane.create(name, capacity=8, max_payload=8)
    ring.close()
    with pytest.raises(ValueError, match="closed ring"):
        ring.producer()


def test_every_error_class_is_a_shmlane_error():
    classes = [getattr(shmlane, n) for n in shmlane.__all__ if n.endswith("Error")]
    assert len(classes) == 23
    for error_class in classes:
        assert issubclass(error_class, shmlane.Error)
        assert error_class.__module__ == "shmlane"
