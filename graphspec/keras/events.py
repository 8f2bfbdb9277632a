"""TensorBoard event files without TensorFlow: the scalars that training logs.

`tf.summary` and Keras's `TensorBoard` callback need TensorFlow, which a model trained on
JAX (or PyTorch) should not have to import. An event file is simple enough to write here:
a sequence of records, each framed as TFRecord (length, masked CRC32C of the length, data,
masked CRC32C of the data), whose data is one `tensorboard.Event` protocol buffer. The few
fields a scalar needs are encoded by hand:

    Event   {1: wall_time (double), 2: step (int64), 3: file_version (string), 5: summary}
    Summary {1: value (repeated Value)}
    Value   {1: tag (string), 2: simple_value (float)}

`simple_value` is the scalar form TensorBoard has always read (the UI and
`EventAccumulator.Scalars` both show it); tests read the files back with TensorBoard's own
reader.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC as TFRecord stores it: rotated and offset, so that a CRC of data that holds
    CRCs is not itself degenerate."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord holding `data`."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# -- protocol buffers, the few wire types an event needs ---------------------------------------


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # int64: a negative step is ten bytes, as protobuf writes it
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def event(
    wall_time: float,
    *,
    step: int = 0,
    file_version: str | None = None,
    scalars: dict[str, float] | None = None,
) -> bytes:
    """A serialized `Event`: the file's version header, or scalars at a step."""
    out = _key(1, 1) + struct.pack("<d", wall_time)
    if step:
        out += _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        values = b"".join(
            _bytes_field(
                1, _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", float(value))
            )
            for tag, value in scalars.items()
        )
        out += _bytes_field(5, values)
    return out


_unique = itertools.count()


class EventWriter:
    """Scalars for TensorBoard in `logdir`, one event file per writer, named as TensorFlow
    names them (TensorBoard finds files by the `tfevents` in the name)."""

    def __init__(self, logdir: str | os.PathLike):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = (
            f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_unique)}.v2"
        )
        self.path = self.logdir / name
        self._file = open(self.path, "wb")
        self._file.write(record(event(now, file_version="brain.Event:2")))
        self._file.flush()

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Write `values` (tag -> number) at `step`, and flush: a run that is killed keeps
        everything logged before."""
        if not values:
            return
        self._file.write(record(event(time.time(), step=step, scalars=values)))
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
