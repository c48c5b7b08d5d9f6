"""Atomic writes: results appear whole or not at all, with shareable permissions."""

import os
import stat

import pytest

from rasp.atomic import atomic_open, atomic_path, current_umask, write_text_atomic


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_umask_permissions_not_mkstemp_private(tmp_path):
    expected = 0o666 & ~current_umask()
    write_text_atomic(tmp_path / "a" / "t.txt", "hello\n")
    with atomic_path(tmp_path / "b.bin") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"\x00\x01")
    assert (tmp_path / "a" / "t.txt").read_text() == "hello\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _mode(tmp_path / "a" / "t.txt") == expected
    assert _mode(tmp_path / "b.bin") == expected


def test_failure_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(target, "w") as fh:
            fh.write("new, half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_atomic_open_refuses_read_and_append_modes(tmp_path):
    with pytest.raises(ValueError, match="writes only"):
        with atomic_open(tmp_path / "x", "a"):
            pass
