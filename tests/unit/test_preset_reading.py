"""Preset files are checked before they are parsed: a regular file, at most 256 kB, opened without
blocking, YAML without aliases. A FIFO, a device, a huge file or an alias bomb is one clear Problem
for that file; nothing blocks, nothing reads without bound, and the rest of the folder loads.
"""

from __future__ import annotations

import contextlib
import os
import resource
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest

from bls.core import preset as P
from bls.core.library import PresetLibrary
from bls.core.preset import (ALIAS_MESSAGE, PRESET_MAX_BYTES, TOO_MANY_MESSAGE, VALUES_MAX, Preset, dump_preset,
                             load_preset_file, parse_preset_text)

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and device files are POSIX")

BUILTINS = ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"]
NOT_REGULAR = "not a regular file ({}): bls reads only preset files"


def finishes(fn, *args, seconds: float = 10.0):
    """``fn(*args)``, asserting it returns within ``seconds`` (a read blocked on a FIFO never does)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s: blocked on a FIFO or a device?"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _vm_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))


@contextlib.contextmanager
def memory_cap(extra: int = 512 * 2**20):
    """At most ``extra`` more bytes of address space meanwhile: a read without bound (of /dev/zero, or
    an alias bomb blown up) is a MemoryError in the test, not the machine out of memory."""
    if not Path("/proc/self/status").exists():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def release(fifo: Path) -> None:
    """Open the writing end of ``fifo`` and close it: a reader blocked on it (a regression) gets EOF."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def calm_text() -> str:
    return dump_preset(Preset(name="calm").with_("motion", speed_cycles_per_s=0.4))


#: a billion laughs: 10**9 'lol's if expanded, a few hundred bytes as text; the name is the bomb, so
#: any message that quoted the value would blow it up
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
        + "name: *i\n")


def make_bad(kind: str, folder: Path) -> tuple[Path, str]:
    """A file named like a preset that must be refused unread: (its path, the message expected)."""
    path = folder / f"{kind}.yaml"
    if kind == "fifo":
        os.mkfifo(path)
        return path, NOT_REGULAR.format("a FIFO")
    if kind in ("zero", "urandom", "null"):
        path.symlink_to(f"/dev/{kind}")
        return path, NOT_REGULAR.format("a device")
    if kind == "device-node":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # the device /dev/zero is
        return path, NOT_REGULAR.format("a device")
    if kind == "socket":
        import socket  # noqa: PLC0415

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
        return path, NOT_REGULAR.format("a socket")
    if kind == "folder":
        path.mkdir()
        return path, NOT_REGULAR.format("a folder")
    if kind == "sparse-200MB":
        with open(path, "wb") as fh:
            fh.truncate(200 * 2**20)  # no block written; a read would still return 200 MB of zeros
        return path, "too big for a preset (200 MB; at most 256 kB)"
    if kind == "300kB":
        path.write_text(calm_text() + "# " + "x" * (300 * 1024 - len(calm_text()) - 3) + "\n")
        return path, "too big for a preset (300 kB; at most 256 kB)"
    if kind == "alias-bomb":
        path.write_text(BOMB)
        return path, ALIAS_MESSAGE
    raise ValueError(kind)


KINDS = ["fifo", "zero", "urandom", "null", "device-node", "socket", "folder", "sparse-200MB", "300kB",
         "alias-bomb"]


@pytest.fixture
def bad(request, tmp_path):
    kind = request.param
    if kind == "device-node" and os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    folder = tmp_path / "bad"
    folder.mkdir()
    path, said = make_bad(kind, folder)
    yield path, said
    if kind == "fifo":
        release(path)


# --------------------------------------------------------------------------- one file


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_a_file_that_is_not_a_small_regular_file_is_refused_at_once_in_words(bad):
    path, said = bad
    with memory_cap():
        preset, problems = finishes(load_preset_file, path, seconds=5)
    assert preset is None and [(p.source, p.severity, p.message) for p in problems] == [(str(path), "error", said)]


@pytest.mark.parametrize("bad", ["fifo", "sparse-200MB", "zero"], indirect=True)
def test_a_refused_file_is_never_read(bad, monkeypatch):
    path, _ = bad
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    opened: list = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    finishes(load_preset_file, path, seconds=5)
    assert reads == [] and [Path(p) for p in opened] == []  # refused from its status: not even opened


def test_the_limit_itself_loads_and_one_byte_more_is_refused(tmp_path):
    head = calm_text() + "# "
    exact = tmp_path / "exact.yaml"
    exact.write_text(head + "x" * (PRESET_MAX_BYTES - len(head) - 1) + "\n")
    assert exact.stat().st_size == PRESET_MAX_BYTES
    assert load_preset_file(exact) == (parse_preset_text(calm_text())[0], [])
    over = tmp_path / "over.yaml"
    over.write_bytes(exact.read_bytes() + b"\n")
    assert load_preset_file(over)[1][0].message == "too big for a preset (257 kB; at most 256 kB)"


def test_a_file_that_grows_after_its_check_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    """The status said small (the file grew, or a file system reports no size): at most limit + 1
    bytes are read, and the file is refused."""
    f = tmp_path / "grows.yaml"
    f.write_bytes(b"# " + b"x" * (4 * PRESET_MAX_BYTES))
    monkeypatch.setattr(P, "_not_preset_file", lambda st, max_bytes: None)
    read: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: (lambda b: read.append(len(b)) or b)(real_read(fd, n)))
    preset, problems = load_preset_file(f)
    assert preset is None and problems[0].message == "too big for a preset (more than 256 kB)"
    assert sum(read) == PRESET_MAX_BYTES + 1


def test_a_symlink_to_a_good_preset_loads(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text(calm_text())
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert load_preset_file(link) == load_preset_file(real) and load_preset_file(link)[0].name == "calm"


def test_a_missing_file_and_a_dangling_symlink_cannot_be_read(tmp_path):
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    for name in ("missing.yaml", "dangling.yaml"):
        preset, problems = load_preset_file(tmp_path / name)
        assert preset is None and problems[0].message == "cannot read the file: No such file or directory"


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("text, line", [
    (BOMB, 2),
    ("name: x\nmotion: &m {speed_cycles_per_s: 0.5}\nvisual: *m\n", 3),
    ("name: &n calm\ndescription: *n\n", 2),
    ("base: &b {speed_cycles_per_s: 0.5}\nname: x\nmotion:\n  <<: *b\n", 4),  # a merge key is an alias too
])
def test_any_alias_is_refused_with_its_line(text, line):
    preset, problems = parse_preset_text(text, "f.yaml")
    assert preset is None
    assert [(p.line, p.message) for p in problems] == [(line, ALIAS_MESSAGE)]
    assert ALIAS_MESSAGE.startswith("uses YAML aliases (&/*), which a preset never needs")


def test_an_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB * 50)  # 50 bombs, one after another (repeated keys): still refused at the first alias
    tracemalloc.start()
    try:
        with memory_cap():
            preset, problems = finishes(load_preset_file, f, seconds=5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert preset is None and problems[0].message == ALIAS_MESSAGE
    assert peak < 20 * 2**20, peak


def test_a_file_of_many_values_is_refused_as_soon_as_it_passes_the_limit(tmp_path):
    """A preset holds under 100 values; 256 kB of them (40 000 unknown keys: 40 000 notes and seconds
    of parsing) is refused at the first value past VALUES_MAX, with its line."""
    f = tmp_path / "many.yaml"
    f.write_text("name: x\nmotion:\n" + "".join(f"  k{i}: 1\n" for i in range(20000)))
    assert f.stat().st_size < PRESET_MAX_BYTES
    preset, problems = finishes(load_preset_file, f, seconds=5)
    # values 1-5: the document, name, x, motion, its mapping; then two a line from line 3
    first_too_many = 3 + (VALUES_MAX + 1 - 6) // 2
    assert preset is None and [(p.message, p.line) for p in problems] == [(TOO_MANY_MESSAGE, first_too_many)]
    assert TOO_MANY_MESSAGE == "holds more than 1000 values (keys included), far more than a preset has"


@pytest.mark.parametrize("pairs, loads", [((VALUES_MAX - 3) // 2, True), ((VALUES_MAX - 3) // 2 + 1, False)])
def test_the_limit_of_values_counts_keys_and_values(pairs, loads):
    # the document itself, name and its value, then the pairs
    text = "name: x\n" + "".join(f"k{i}: 1\n" for i in range(pairs))
    preset, problems = parse_preset_text(text)
    assert (preset is not None) == loads
    assert loads == (TOO_MANY_MESSAGE not in [p.message for p in problems])


def test_an_anchor_that_no_alias_uses_is_harmless():
    assert parse_preset_text("name: &n calm\n") == (Preset(name="calm"), [])


# --------------------------------------------------------------------------- the library


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_the_library_loads_the_rest_of_the_folder_and_names_the_bad_file(bad):
    path, said = bad
    folder = path.parent
    (folder / "calm.yaml").write_text(calm_text())
    mode = path.lstat().st_mode
    with memory_cap():
        lib = finishes(PresetLibrary, folder, seconds=10)
    assert lib.names() == BUILTINS + ["calm"]
    assert [(p.source, p.message) for p in lib.problems] == [(str(path), said)]
    assert path.lstat().st_mode == mode and sorted(p.name for p in folder.iterdir()) == sorted(
        ["calm.yaml", path.name])  # left as it was: nothing renamed, moved or written


@pytest.mark.parametrize("bad", ["fifo", "zero", "sparse-200MB", "alias-bomb"], indirect=True)
def test_importing_a_bad_file_refuses_it_at_once_and_adds_nothing(bad, tmp_path):
    from bls.core.library import LibraryError  # noqa: PLC0415

    path, said = bad
    lib = PresetLibrary(tmp_path / "mine")
    with memory_cap(), pytest.raises(LibraryError) as caught:
        finishes(lib.import_file, path, seconds=5)
    assert [p.message for p in caught.value.problems] == [said]
    assert lib.names() == BUILTINS and not (tmp_path / "mine").exists()

