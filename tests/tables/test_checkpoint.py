"""The watchlist checkpoint file: round trips, every reason to distrust a file, and crashes
while writing (tables/checkpoint.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from config.settings import load_settings
from tables import checkpoint as ckpt
from tables.checkpoint import (
    FILE_NAME,
    TEMP_NAME,
    LastRecord,
    PartitionMark,
    Stale,
    checkpoint_directory,
    marks_from_json,
    marks_to_json,
    read_checkpoint,
    record_digest,
    secret_fingerprint,
    write_checkpoint,
)

ROOT = Path(__file__).resolve().parents[2]
HEADER = {"topic": "vigil.watchlist", "secret": secret_fingerprint(b"k"), "partitions": 2,
          "store_format": 3, "marks": marks_to_json({0: PartitionMark(0), 1: PartitionMark(
              8, LastRecord(7, 1_795_000_000_000, record_digest(b"k", b"v")))})}
EXPECT = {"topic": "vigil.watchlist", "secret": secret_fingerprint(b"k"), "partitions": 2,
          "store_format": 3}


def sample_arrays() -> dict[str, np.ndarray]:
    """Columns of several dtypes and shapes, empty ones and a scalar among them."""
    rng = np.random.default_rng(3)
    return {
        "hashes": rng.integers(0, 2**63, 1000, dtype=np.uint64),
        "expires": rng.integers(-2**40, 2**40, 1000, dtype=np.int64),
        "slots": rng.integers(0, 2**32, 999, dtype=np.uint32),
        "arena": rng.integers(0, 256, 25 * 1000 + 3, dtype=np.uint8),
        "weights": rng.random((10, 7), dtype=np.float32),
        "flags": rng.random(13) < 0.5,
        "pairs": np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<u2"), ("b", ">f8")]),
        "empty_u64": np.empty(0, np.uint64),
        "empty_2d": np.empty((0, 4), np.int16),
        "scalar": np.array(42, dtype=np.int32),
    }


def assert_same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype, name
        assert got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name], arr, err_msg=name)


def written(tmp_path: Path, arrays: dict[str, np.ndarray] | None = None) -> Path:
    return write_checkpoint(tmp_path, HEADER, sample_arrays() if arrays is None else arrays)


def test_round_trip_keeps_header_dtypes_shapes_and_values(tmp_path: Path) -> None:
    path = written(tmp_path)
    assert path == tmp_path / FILE_NAME
    got = read_checkpoint(tmp_path, EXPECT)
    assert not isinstance(got, Stale), got
    header, arrays = got
    assert header == HEADER
    assert_same_arrays(arrays, sample_arrays())
    assert marks_from_json(header["marks"]) == marks_from_json(HEADER["marks"])


def test_arrays_start_aligned_and_a_non_contiguous_array_is_written_as_its_values(
        tmp_path: Path) -> None:
    strided = np.arange(20, dtype=np.uint64)[::3]
    write_checkpoint(tmp_path, {}, {"odd": np.arange(3, dtype=np.uint8), "strided": strided})
    _, arrays = read_checkpoint(tmp_path, {})
    np.testing.assert_array_equal(arrays["strided"], strided)
    raw = (tmp_path / FILE_NAME).read_bytes()
    assert raw[-strided.nbytes:] == strided.tobytes()
    assert (len(raw) - strided.nbytes) % ckpt.ALIGN == 0


@settings(max_examples=40, deadline=None)
@given(arrays=st.dictionaries(
    st.text(min_size=1, max_size=8),
    hnp.arrays(st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                         hnp.floating_dtypes(), hnp.boolean_dtypes()),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)),
    max_size=5))
def test_any_arrays_round_trip(arrays: dict[str, np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_checkpoint(Path(folder), {"n": len(arrays)}, arrays)
        got = read_checkpoint(Path(folder), {"n": len(arrays)})
    assert not isinstance(got, Stale), got
    assert list(got[1]) == list(arrays)
    for name, arr in arrays.items():  # byte equality: NaNs compare equal to themselves
        assert got[1][name].dtype == arr.dtype and got[1][name].shape == arr.shape
        assert got[1][name].tobytes() == arr.tobytes()


def test_a_missing_checkpoint_is_stale_with_reason_none(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path / "absent", EXPECT) == Stale("none")


@pytest.mark.parametrize(("key", "value"), [
    ("topic", "blue.vigil.watchlist"),
    ("secret", secret_fingerprint(b"other")),
    ("partitions", 3),
    ("store_format", 4),
    ("not_in_header", 1),
])
def test_each_header_mismatch_is_stale_naming_the_key(tmp_path: Path, key: str,
                                                      value: object) -> None:
    written(tmp_path)
    got = read_checkpoint(tmp_path, {**EXPECT, key: value})
    assert isinstance(got, Stale) and got.reason.startswith(f"{key}:"), got


def test_expected_values_compare_as_json(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {"partitions": [0, 1]}, {})
    assert not isinstance(read_checkpoint(tmp_path, {"partitions": (0, 1)}), Stale)


def test_another_file_format_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckpt, "FORMAT", ckpt.FORMAT + 1)
    written(tmp_path)
    monkeypatch.undo()
    got = read_checkpoint(tmp_path, EXPECT)
    assert isinstance(got, Stale) and "format" in got.reason, got


def data_start(path: Path) -> int:
    _, header_len, _ = ckpt._PREFIX.unpack(path.read_bytes()[:ckpt._PREFIX.size])
    return ckpt._aligned(ckpt._PREFIX.size + header_len)


def test_a_file_truncated_anywhere_or_with_bytes_added_is_stale(tmp_path: Path) -> None:
    path = written(tmp_path)
    whole = path.read_bytes()
    for size in (0, 5, ckpt._PREFIX.size + 10, data_start(path), data_start(path) + 4096,
                 len(whole) - 1):
        path.write_bytes(whole[:size])
        got = read_checkpoint(tmp_path, EXPECT)
        assert isinstance(got, Stale), size
    path.write_bytes(whole + b"\0")
    assert isinstance(read_checkpoint(tmp_path, EXPECT), Stale)


@pytest.mark.parametrize(("where", "reason"), [
    (lambda path: 0, "not a checkpoint file"),
    (lambda path: ckpt._PREFIX.size + 3, "header checksum mismatch"),
    (lambda path: data_start(path) + 5, "array 'hashes': checksum mismatch"),
    (lambda path: path.stat().st_size - 1, "array 'scalar': checksum mismatch"),
])
def test_a_flipped_byte_is_stale(tmp_path: Path, where, reason: str) -> None:
    path = written(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[where(path)] ^= 0x10
    path.write_bytes(bytes(raw))
    got = read_checkpoint(tmp_path, EXPECT)
    assert isinstance(got, Stale) and got.reason.startswith(reason), got


def test_a_header_without_its_fields_is_stale_not_an_error(tmp_path: Path) -> None:
    body = b'{"format": 1}'
    head = ckpt._PREFIX.pack(ckpt.MAGIC, len(body), ckpt.zlib.crc32(body)) + body
    (tmp_path / FILE_NAME).write_bytes(head)
    got = read_checkpoint(tmp_path, EXPECT)
    assert isinstance(got, Stale) and got.reason.startswith("corrupt header"), got


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'names'"):
        write_checkpoint(tmp_path, {}, {"names": np.array(["a", None], dtype=object)})


# A writer that stops for good after its first chunk of array bytes, to be killed there.
SLOW_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from tables import checkpoint as ckpt

chunks = ckpt._chunks
def slow_chunks(flat):
    for i, chunk in enumerate(chunks(flat)):
        if i == 1:
            print("mid-write", flush=True)
            time.sleep(600)
        yield chunk
ckpt._chunks = slow_chunks
ckpt.CHUNK_BYTES = 1 << 16
ckpt.write_checkpoint(Path(sys.argv[1]), {"generation": 2},
                      {"big": np.full(1 << 20, 7, dtype=np.uint64)})
"""


@contextmanager
def writer_stuck_mid_write(folder: Path) -> Iterator[None]:
    """Run SLOW_WRITER on `folder` until it is mid-write; SIGKILL it when the block ends."""
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(folder)],
                              stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert writer.stdout.readline() == "mid-write\n"
        yield
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        writer.stdout.close()


def test_a_writer_killed_mid_write_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {"generation": 1}, sample_arrays())
    with writer_stuck_mid_write(tmp_path):
        pass
    assert (tmp_path / TEMP_NAME).stat().st_size > 0  # it did get some way
    got = read_checkpoint(tmp_path, {"generation": 1})
    assert not isinstance(got, Stale), got
    assert_same_arrays(got[1], sample_arrays())
    # The dead writer's lock went with it; the next writer clears its leftovers.
    write_checkpoint(tmp_path, {"generation": 3}, {"small": np.arange(4)})
    assert not (tmp_path / TEMP_NAME).exists()
    _, arrays = read_checkpoint(tmp_path, {"generation": 3})
    np.testing.assert_array_equal(arrays["small"], np.arange(4))


def test_a_second_writer_waits_for_the_first_instead_of_taking_its_file(tmp_path: Path
                                                                        ) -> None:
    with ThreadPoolExecutor(1) as pool, writer_stuck_mid_write(tmp_path):
        second = pool.submit(write_checkpoint, tmp_path, {"generation": 3}, {"a": np.arange(4)})
        with pytest.raises(FutureTimeout):
            second.result(timeout=0.5)
        partial = (tmp_path / TEMP_NAME).stat().st_size
        assert partial > 0
    # The first writer died holding the lock: the second one goes on once the kernel drops it.
    assert second.result(timeout=30) == tmp_path / FILE_NAME
    assert not isinstance(read_checkpoint(tmp_path, {"generation": 3}), Stale)


def test_a_leftover_temporary_file_is_ignored_by_readers(tmp_path: Path) -> None:
    written(tmp_path)
    (tmp_path / TEMP_NAME).write_bytes(b"VGLCKPT1 torn")
    got = read_checkpoint(tmp_path, EXPECT)
    assert not isinstance(got, Stale), got


def test_marks_round_trip_through_json() -> None:
    marks = {0: PartitionMark(0), 3: PartitionMark(11, LastRecord(9, 5, "ab")),
             1: PartitionMark.after(type("R", (), {"offset": 4, "timestamp": 77, "key": b"k",
                                                    "value": None})())}
    assert marks[1] == PartitionMark(5, LastRecord(4, 77, record_digest(b"k", None)))
    assert marks_from_json(ckpt.loads(ckpt.dumps(marks_to_json(marks)))) == marks


def test_record_digest_tells_apart_records_that_concatenate_alike() -> None:
    digests = {record_digest(k, v) for k, v in [
        (b"ab", b"c"), (b"a", b"bc"), (None, b"abc"), (b"", b"abc"), (b"abc", None),
        (b"abc", b"")]}
    assert len(digests) == 6
    assert record_digest(b"k", b"v") == record_digest(b"k", b"v")


def test_secret_fingerprint_names_the_secret_without_holding_it() -> None:
    secret = b"correct horse battery staple"
    fp = secret_fingerprint(secret)
    assert fp == secret_fingerprint(secret) != secret_fingerprint(secret + b".")
    assert secret.hex() not in fp and len(fp) == 32


def test_checkpoint_directory_is_under_the_run_folder_unless_absolute_or_off() -> None:
    def folder(value: str) -> Path | None:
        return checkpoint_directory(load_settings(env={
            "VIGIL_BROKER_RUN_DIR": "run", "VIGIL_WATCHLIST_CHECKPOINT_DIR": value}))

    assert folder("state") == Path("run/state")
    assert folder("/var/lib/vigil") == Path("/var/lib/vigil")
    assert folder("") is None
