"""The part file starts the disk write-back as it goes, and never changes what is written."""

from __future__ import annotations

import os

from ansible_collections.drc.registry.plugins.module_utils._registry import atomic_write as files


def test_write_back_is_started_every_step_and_content_is_unchanged(tmp_path, monkeypatch):
    advised = []
    real = os.posix_fadvise

    def record(fd, offset, length, advice):
        advised.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(files, "WRITE_BEHIND", 1000)
    monkeypatch.setattr(os, "posix_fadvise", record)
    path = str(tmp_path / "part")
    expected = bytearray()
    handle = files.open_part(path)
    try:
        for index in range(25):
            chunk = bytes([index]) * 300
            handle.write(chunk)
            expected += chunk
        # a restarted download: rewind, truncate, write again
        handle.seek(0)
        handle.truncate()
        expected = bytearray(b"x" * 2500)
        handle.write(bytes(expected))
        handle.flush()
    finally:
        handle.close()
    with open(path, "rb") as written:
        assert written.read() == bytes(expected)
    # every 1000 bytes at least: 7500 bytes before the rewind, then 2500 from 0
    assert advised[:7] == [(0, 1200, os.POSIX_FADV_DONTNEED), (1200, 1200, os.POSIX_FADV_DONTNEED),
                           (2400, 1200, os.POSIX_FADV_DONTNEED), (3600, 1200, os.POSIX_FADV_DONTNEED),
                           (4800, 1200, os.POSIX_FADV_DONTNEED), (6000, 1200, os.POSIX_FADV_DONTNEED),
                           (0, 2500, os.POSIX_FADV_DONTNEED)]
    assert len(advised) == 7


def test_the_part_file_is_still_locked(tmp_path):
    path = str(tmp_path / "part")
    first = files.open_part(path)
    try:
        try:
            files.open_part(path)
        except files.RegistryError as exc:
            assert "holds a lock" in str(exc)
        else:
            raise AssertionError("a second open of a locked part file succeeded")
    finally:
        first.close()
