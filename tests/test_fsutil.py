"""Temp files beside outputs (``otio_heygen.fsutil``): the naming scheme, the registry of live temps, and
the sweep of stale ones (only our names, only when the owner is gone; nothing foreign is ever touched)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otio_heygen import fsutil
from otio_heygen.fsutil import (
    FOREIGN_STALE_S,
    HOST,
    LEGACY_QUIET_S,
    commit_temp,
    create_temp_beside,
    create_temp_dir_beside,
    discard_temp,
    live_temps,
    parse_temp_name,
    pid_alive,
    remove_stale_temps,
    reserve_temp_beside,
    temp_name,
)


def dead_pid() -> int:
    """The pid of a process that ran and was reaped: nothing runs under it now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_names_say_ours_which_machine_and_which_process() -> None:
    name = temp_name(Path("media/Part 1 - take.2.mp4"), ".mov.part")
    parsed = parse_temp_name(name)
    assert name.startswith(".Part 1 - take.2.oh-")
    assert parsed is not None
    assert (parsed.stem, parsed.host, parsed.pid, parsed.suffix) == ("Part 1 - take.2", HOST, os.getpid(), ".mov.part")
    assert parse_temp_name(temp_name(Path("x"), "", pid=7, host="beef", token="0123abcd")) == fsutil.TempName(
        "x", "beef", 7, "0123abcd", ""
    )
    for foreign in (".DS_Store", ".song.wav", ".Part_1.0123456789ab.mp4", "Part.oh-beef-12-0123abcd.part",
                    ".Part.oh-beef-0-0123abcd.part", ".Part.oh-BEEF-12-0123abcd.part", ".Part.oh-beef-12-0123.part"):
        assert parse_temp_name(foreign) is None, foreign


def test_temp_files_are_registered_until_renamed_or_discarded(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    tmp = create_temp_beside(dest, ".part")
    assert tmp.parent == tmp_path and tmp.is_file() and tmp in live_temps()
    assert tmp.stat().st_mode & 0o777 == 0o666 & ~_umask()
    tmp.write_bytes(b"video")
    commit_temp(tmp, dest)
    assert dest.read_bytes() == b"video" and not tmp.exists() and tmp not in live_temps()

    gone = create_temp_beside(dest, ".part")
    discard_temp(gone)
    assert not gone.exists() and gone not in live_temps()
    discard_temp(gone)  # twice is fine

    folder = create_temp_dir_beside(dest, ".tmp")
    (folder / "timeline.otio").write_text("{}")
    assert folder.is_dir() and folder in live_temps()
    discard_temp(folder)
    assert not folder.exists() and folder not in live_temps()

    reserved = reserve_temp_beside(dest, ".link")
    assert not reserved.exists() and reserved in live_temps()
    os.link(dest, reserved)
    commit_temp(reserved, tmp_path / "linked.mp4")
    assert reserved not in live_temps()


def test_remove_live_temps_removes_files_and_folders_and_final_refuses_new_ones(tmp_path: Path) -> None:
    registry = fsutil._Registry()  # a registry of its own: the process-wide one must stay open for other tests
    dest = tmp_path / "clip.mp4"
    file = registry.make(dest, ".part", fsutil._create_file(0o666))
    folder = registry.make(dest, ".tmp", lambda p: p.mkdir())
    (folder / "inner.jpg").write_bytes(b"x")
    keep = tmp_path / ".not-ours.part"
    keep.write_bytes(b"x")
    assert registry.remove_all(final=False) == 2
    assert not file.exists() and not folder.exists() and keep.exists() and registry.snapshot() == []
    registry.make(dest, ".part", fsutil._create_file(0o666))
    assert registry.remove_all(final=True) == 1
    with pytest.raises(OSError):
        registry.make(dest, ".part", fsutil._create_file(0o666))
    assert [p.name for p in tmp_path.iterdir()] == [keep.name]


def test_pid_alive_tells_a_running_process_from_a_gone_one() -> None:
    assert pid_alive(os.getpid())
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as running:
        assert pid_alive(running.pid)
        assert running.stdin is not None
        running.stdin.close()
    assert not pid_alive(dead_pid())
    if Path("/proc/self/stat").exists():  # Linux: a child killed but not reaped yet (a zombie) is gone too
        with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as zombie:
            zombie.kill()
            os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # it has ended; still not reaped
            assert not pid_alive(zombie.pid)


def _touch(path: Path, *, age_s: float = 0.0, folder: bool = False) -> Path:
    if folder:
        path.mkdir()
        (path / "timeline.otio").write_text("{}")
    else:
        path.write_bytes(b"partial")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_stale_temps_of_gone_processes_go_live_and_foreign_files_stay(tmp_path: Path) -> None:
    media = tmp_path / "cut_media"
    media.mkdir()
    gone, alive = 4242, 4343
    name = lambda stem, suffix, pid, host=HOST: temp_name(Path(stem), suffix, pid=pid, host=host)  # noqa: E731
    stale = [
        _touch(media / name("Part_1", ".part", gone)),
        _touch(tmp_path / name("cut", ".tmp", gone), folder=True),
        _touch(media / name("Part_2", ".mp4", os.getpid())),  # our pid, but this process never made it
        _touch(media / name("Part_3", ".part", gone, "beef"), age_s=FOREIGN_STALE_S + 60),
        _touch(media / ".Part_4.0123456789ab.mov.part", age_s=LEGACY_QUIET_S + 60),
        _touch(media / ".Part_5.mp4.4242.tmp", age_s=LEGACY_QUIET_S + 60),
        _touch(media / ".0a1b2c3d4e5f60718293a4b5.k2_x9abc.part", age_s=LEGACY_QUIET_S + 60),  # mkstemp's
    ]
    ours_live = create_temp_beside(media / "Part_6.mp4", ".part")
    kept = [
        ours_live,
        _touch(media / name("Part_7", ".part", alive)),
        _touch(media / name("Part_8", ".part", gone, "beef")),  # another machine's, recent: maybe running
        _touch(media / ".Part_9.0123456789ab.mp4"),  # an earlier version's, still being written
        _touch(tmp_path / ".cut.0123456789ab.part", age_s=LEGACY_QUIET_S + 60),  # old names: media folders only
        _touch(media / ".DS_Store", age_s=FOREIGN_STALE_S + 60),
        _touch(media / "Part_1.mp4"),
        _touch(media / name("Part_10", ".part", gone)[1:]),  # not hidden: not a temp of ours
        _touch(tmp_path / ".otio-heygen", folder=True),
    ]
    (media / "masters").mkdir()
    kept.append(_touch(media / "masters" / name("Part_11", ".part", gone)))  # only the folders given, not below
    try:
        removed = remove_stale_temps([tmp_path, media], legacy_in=[media], is_alive=lambda pid: pid != gone)
        assert sorted(removed) == sorted(stale)
        assert not any(os.path.lexists(p) for p in stale)
        assert all(p.exists() for p in kept)
        assert remove_stale_temps([tmp_path, media], legacy_in=[media], is_alive=lambda pid: pid != gone) == []
    finally:
        discard_temp(ours_live)


def test_the_sweep_asks_the_system_whether_the_owner_runs(tmp_path: Path) -> None:
    gone = tmp_path / temp_name(Path("Part_1"), ".part", pid=dead_pid())
    mine = tmp_path / temp_name(Path("Part_2"), ".part", pid=os.getppid())  # pytest's parent: running
    gone.write_bytes(b"x")
    mine.write_bytes(b"x")
    assert remove_stale_temps([tmp_path]) == [gone]
    assert mine.exists()
    assert remove_stale_temps([tmp_path / "missing"]) == []


def _umask() -> int:
    probe = subprocess.run([sys.executable, "-c", "import os; m = os.umask(0); print(m)"],
                           capture_output=True, text=True, check=True)
    return int(probe.stdout)


@pytest.mark.parametrize("ending", ["raise RuntimeError('a bug')", "sys.exit(1)", "pass"])
def test_a_process_that_ends_any_other_way_leaves_no_temp_behind(tmp_path: Path, ending: str) -> None:
    script = ("import sys\nfrom pathlib import Path\nfrom otio_heygen.fsutil import create_temp_beside\n"
              f"create_temp_beside(Path(sys.argv[1]) / 'Part_1.mp4', '.part').write_bytes(b'partial')\n{ending}\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, timeout=60)
    assert list(tmp_path.iterdir()) == []
