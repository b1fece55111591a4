"""A backup's file leaves the page cache once it is on the disk, and once it has been read: measured with
mincore(2) on the real file system under the test's folder."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

import pytest

from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.stream import page_cache, sinks
from backup_tui.engine.stream.pipeline import compress, decode
from backup_tui.engine.stream.sources import FileSource

MiB = 1 << 20
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]


def cached_bytes(path: Path) -> int:
    """How much of ``path`` is in the page cache now: mincore of a read-only mapping (mapping reads nothing)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            if _libc.mincore(address, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)
    return sum(v & 1 for v in vec) * mmap.PAGESIZE


@pytest.fixture
def disk_folder(tmp_path: Path) -> Path:
    """The test's folder, where the page cache can drop a file's pages (tmpfs keeps them: they are the file)."""
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(MiB))
    fd = os.open(probe, os.O_RDONLY)
    try:
        os.fsync(fd)
        page_cache.forget(fd, 0, MiB)
    finally:
        os.close(fd)
    if cached_bytes(probe):
        pytest.skip(f"{tmp_path}'s file system keeps a file's pages cached (tmpfs)")
    probe.unlink()
    return tmp_path


def test_a_backup_file_leaves_the_page_cache_as_it_is_synced(disk_folder: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sync on the way drops what it made durable, and close drops the rest: a 24 MiB file written
    through the pipeline has none of its pages cached once it is closed, nor, past the last sync, while it grows."""
    monkeypatch.setattr(sinks, "SYNC_EVERY", 4 * MiB)
    path = disk_folder / "backup.zst"
    sink = sinks.FileSink(path)
    for _ in range(24):
        sink.write(os.urandom(MiB))
        sink._syncing.finish()  # each sync ends before the next write: what is cached is the unsynced tail
    assert cached_bytes(path) <= 4 * MiB
    sink.close()
    assert path.stat().st_size == 24 * MiB
    assert cached_bytes(path) == 0


def test_reading_a_stored_file_drops_what_was_read(disk_folder: Path) -> None:
    """A verify or restore reads the whole file once: behind the reader its pages leave the cache, and the
    bytes read are the file's."""
    data = os.urandom(40 * MiB)
    path = disk_folder / "stored.bin"
    with path.open("wb") as fh:  # on the disk, as a stored backup is; and all of it in the cache
        fh.write(data)
        os.fsync(fh.fileno())
    assert cached_bytes(path) == len(data)
    read = bytearray()
    with FileSource(path).open() as src:
        while block := src.read(MiB):
            read += block
    assert read == data
    assert cached_bytes(path) <= page_cache.DROP_EVERY


def test_a_backup_streamed_to_its_file_decodes_from_the_disk(disk_folder: Path) -> None:
    """Dropped from the cache, the file read back is the one on the disk: the stream round-trips."""
    raw = b"".join(f"{i:08d} some row text that repeats\n".encode() for i in range(400_000))
    chunks = iter([raw[i:i + MiB] for i in range(0, len(raw), MiB)])
    path = disk_folder / "roundtrip.zst"
    stats = compress(lambda n: next(chunks, b""), sinks.FileSink(path), level=1, threads=1, cancel=CancelToken())
    assert cached_bytes(path) == 0
    out = bytearray()
    again = decode(FileSource(path), "zstd", cancel=CancelToken(), sink=out.extend)
    assert bytes(out) == raw
    assert again.stored_sha256 == stats.stored_sha256
