"""Lock-free ring buffers in shared memory, zero-copy between processes.

A ring lives in a file (/dev/shm/<name> or any path) that producers and
consumers in several processes map; they may be written in Python, Rust, C
or Go. ``create`` and ``open`` give a ``Ring``; its ``producer()`` sends
messages and its ``consumer()`` receives them, copied (``send``/``recv``)
or in place (``reserve``/``read``, through the buffer protocol).

>>> import os, shmlane
>>> name = f"doctest-ticks-{os.getpid()}"
>>> with shmlane.create(name, capacity=8, max_payload=64) as ring:
...     producer, consumer = ring.producer(), ring.consumer()
...     producer.send(b"hello")
...     consumer.recv()
True
b'hello'
>>> shmlane.remove(name)

See docs/python.md in the shmlane repository for the whole API.
"""

from ._shmlane import (
    AlreadyExistsError,
    BadGeometryError,
    BadNameError,
    BufferTooSmallError,
    Consumer,
    CorruptError,
    DisconnectedError,
    Error,
    FileTooSmallError,
    IoError,
    Message,
    MessageTooLargeError,
    NotARingError,
    NotFoundError,
    NotReadyError,
    NotSealedError,
    PermissionDeniedError,
    Producer,
    Ring,
    RoleTakenError,
    Slot,
    SymlinkError,
    TooManyParticipantsError,
    TruncatedError,
    UnsupportedVersionError,
    ViewsAliveError,
    WrongKindError,
    WrongMessageSizeError,
    create,
    open,
    remove,
)

__all__ = [
    "AlreadyExistsError",
    "BadGeometryError",
    "BadNameError",
    "BufferTooSmallError",
    "Consumer",
    "CorruptError",
    "DisconnectedError",
    "Error",
    "FileTooSmallError",
    "IoError",
    "Message",
    "MessageTooLargeError",
    "NotARingError",
    "NotFoundError",
    "NotReadyError",
    "NotSealedError",
    "PermissionDeniedError",
    "Producer",
    "Ring",
    "RoleTakenError",
    "Slot",
    "SymlinkError",
    "TooManyParticipantsError",
    "TruncatedError",
    "UnsupportedVersionError",
    "ViewsAliveError",
    "WrongKindError",
    "WrongMessageSizeError",
    "create",
    "open",
    "remove",
]
