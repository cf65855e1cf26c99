"""Private folders and files: exact modes when new whatever the umask; existing ones lose group
and other bits but never gain one (the owner's own choices stand)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from longread.ingest.private import private_dir, private_file, tighten


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_folders_and_files_are_0700_and_0600_even_under_umask_0277(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        folder = private_dir(tmp_path / "cache")
        file = private_file(folder / "db")
    finally:
        os.umask(previous)
    assert (mode(folder), mode(file)) == (0o700, 0o600)


def test_tightening_drops_group_and_other_bits_and_adds_none(tmp_path: Path) -> None:
    loose, locked = tmp_path / "loose", tmp_path / "locked"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    locked.mkdir()
    os.chmod(locked, 0o500)
    (loose / "a").write_text("x")
    os.chmod(loose / "a", 0o666)
    (loose / "b").write_text("x")
    os.chmod(loose / "b", 0o400)
    private_dir(loose)
    private_dir(locked)
    tighten([loose / "a", loose / "b", loose / "missing"])
    private_file(loose / "b")
    assert (mode(loose), mode(locked)) == (0o700, 0o500)
    assert (mode(loose / "a"), mode(loose / "b")) == (0o600, 0o400)
    os.chmod(locked, 0o700)


def test_a_shared_sticky_folder_is_left_open(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
