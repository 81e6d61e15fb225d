"""The watchlist index's arrays: zeroed on cache lines, sized by powers of two at most half
full, grown by copying, and read from a checkpoint with room to grow (tables/index.py)."""

from __future__ import annotations

import numpy as np

MAX_LOAD = 0.5
MIN_TABLE = 1024
LINE_BYTES = 64


def aligned_zeros(shape: int | tuple[int, ...], dtype: type = np.uint64) -> np.ndarray:
    """Zeroed array starting on a cache line, so a table line or a metadata row is one line.
    Its pages stay unmapped until written (calloc), so spare capacity costs no memory."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.zeros(nbytes + LINE_BYTES, np.uint8)
    start = -buf.ctypes.data % LINE_BYTES
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def power_of_two_for(entries: int, minimum: int = MIN_TABLE) -> int:
    """Return the smallest power-of-two size from `minimum` up that holds `entries` at most
    MAX_LOAD full."""
    size = minimum
    while entries > MAX_LOAD * size:
        size *= 2
    return size


def grown_array(array: np.ndarray, rows: int) -> np.ndarray:
    """Return a copy of `array` with `rows` rows, on a cache line, the new rows zero."""
    out = aligned_zeros((rows, *array.shape[1:]), array.dtype.type)
    out[: len(array)] = array
    return out


def room_for(name: str, used: int) -> int:
    """Rows a restored array gets for `used` rows in use: room for more, so that the first
    upserts after a restart do not copy it at once."""
    return used + used // 8 + (256 if name == "id_arena" else 16)


def adopted(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` itself when it has `rows` rows or more and starts on a cache line, else a
    copy of it that does."""
    if len(array) >= rows and array.ctypes.data % LINE_BYTES == 0:
        return array
    return grown_array(array, rows)


class RestoreBuffers:
    """Arrays for a checkpoint to be read into (`tables.checkpoint.read_checkpoint`'s
    `allocate`), with the room and alignment `WatchlistIndex.restore` wants, so that a
    restart does not hold the state twice (10^7 entries: about 1 GB) while copying it."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Return the array `name` of `shape` is read into: the first rows of `arrays[name]`."""
        rows = shape[0] if shape else 0
        room = room_for(name, rows) if name in ("meta", "aux", "id_ref", "free", "id_arena") \
            else rows
        base = aligned_zeros((room, *shape[1:]), dtype.type)
        self.arrays[name] = base
        return base[:rows]
