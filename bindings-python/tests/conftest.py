"""Fixtures: a fresh ring name (removed afterwards) and rings of every kind."""

import os
import uuid

import pytest

import shmlane

# Every kind of ring, as keyword arguments of shmlane.create.
KINDS = {
    "spsc": dict(kind="spsc", capacity=8, max_payload=64),
    "spsc-fixed": dict(kind="spsc", capacity=8, max_payload=64, fixed_size=True),
    "mpmc": dict(kind="mpmc", capacity=8, max_payload=64, max_participants=8),
    "mpmc-fixed": dict(kind="mpmc", capacity=8, max_payload=64, fixed_size=True),
}


@pytest.fixture
def name():
    """A ring name nobody uses; the ring is removed after the test."""
    ring_name = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    yield ring_name
    try:
        shmlane.remove(ring_name)
    except shmlane.NotFoundError:
        pass


@pytest.fixture(params=sorted(KINDS))
def kind_options(request):
    """The create arguments of each kind of ring in turn."""
    return KINDS[request.param]


@pytest.fixture
def ring(name, kind_options):
    """A ring of each kind in turn."""
    with shmlane.create(name, **kind_options) as created:
        yield created


def message_for(ring, body: bytes) -> bytes:
    """`body` as a message the ring carries: padded to the size of a
    fixed-size ring's messages."""
    if ring.fixed_size:
        return body.ljust(ring.max_payload, b"\0")
    return body
