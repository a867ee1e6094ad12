"""``bls presets list|show|validate|import|export`` as a separate process, in a private config dir."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bls.core.library import PresetLibrary
from bls.core.motion import speed_labels
from bls.core.paths import builtin_presets_dir
from bls.core.preset import Preset, dump_preset, parse_preset_text

from .conftest import REPO, base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

BUILTINS = ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"]


def bls(*args: str, cwd: Path | None = None):
    proc = run(bls_command() + ["presets", *args], base_env(), timeout=60, cwd=cwd)
    no_traceback(proc)
    return proc


def user_dir() -> Path:
    return Path(os.environ["BLS_CONFIG_DIR"]) / "presets"


def mine(name: str = "calm", speed: float = 0.45) -> Preset:
    return Preset(name=name, description="For the tests.").with_("motion", speed_cycles_per_s=speed, set_passes=10)


def test_list_shows_the_six_builtins_with_their_speeds_and_set_lengths():
    proc = bls("list")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == BUILTINS
    lib = PresetLibrary()
    for line, name in zip(lines, BUILTINS):
        p = lib.get(name)
        assert re.search(r"\bbuilt-in\b", line)
        assert speed_labels(p.motion.speed_cycles_per_s)[0] in line and p.set_length_label() in line
        assert line.endswith(" gentle") == p.gentle
    assert "0.35 cycles/s" in lines[2] and "1.20 cycles/s  30 passes" in lines[4]


def test_show_prints_yaml_that_parses_back_to_the_same_preset():
    for name in ("standard", "gentle"):
        proc = bls("show", name)
        assert proc.returncode == 0
        assert parse_preset_text(proc.stdout) == (PresetLibrary().get(name), [])
        assert proc.stdout == (builtin_presets_dir() / f"{name}.yaml").read_text(encoding="utf-8")


def test_show_a_user_preset_with_a_non_ascii_name():
    p = mine("Anna — désensibilisation", 1.1)
    user_dir().mkdir(parents=True)
    (user_dir() / "anna.yaml").write_text(dump_preset(p), encoding="utf-8")
    proc = bls("show", p.name)
    assert proc.returncode == 0 and parse_preset_text(proc.stdout) == (p, [])


def test_validate_accepts_good_files_and_says_ok(tmp_path):
    files = sorted(builtin_presets_dir().glob("*.yaml"))
    proc = bls("validate", *map(str, files))
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [f"{f}: ok ({f.stem})" for f in files]


def test_validate_prints_warnings_but_passes_a_file_with_only_warnings(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("name: typo\nmotion:\n  speed_cycle_per_s: 1.2\n")
    proc = bls("validate", str(f))
    assert proc.returncode == 0
    assert proc.stdout == (f"{f}:3: warning: motion.speed_cycle_per_s: unknown setting 'speed_cycle_per_s' "
                           "(ignored): did you mean 'speed_cycles_per_s'?\n")


#: every malformed kind, with the line `bls presets validate` must print for it (after "FILE")
MALFORMED = {
    "syntax.yaml": ("name: x\nmotion:\n  speed_cycles_per_s: 1: 2\n",
                    ":3: error: not valid YAML: a ':' where none can be: a missing line break or indent, or text "
                    "that needs quotes"),
    "tab.yaml": ("name: x\n\tmotion: {}\n", ":2: error: not valid YAML: a tab is used to indent; indent with "
                 "spaces (two per level, as bls writes it)"),
    "wrong-type.yaml": ("name: x\nmotion:\n  speed_cycles_per_s: fast\n",
                        ":3: error: motion.speed_cycles_per_s: 'fast' is not a number (expected cycles/s)"),
    "nan.yaml": ("name: x\nmotion:\n  speed_cycles_per_s: .nan\n",
                 ":3: error: motion.speed_cycles_per_s: nan is not a finite number"),
    "inf.yaml": ("name: x\naudio:\n  level_dbfs: -.inf\n", ":3: error: audio.level_dbfs: -inf is not a finite number"),
    "range.yaml": ("name: x\naudio:\n  level_dbfs: -3\n",
                   ":3: error: audio.level_dbfs: -3 is out of range: allowed -60 to -12 dBFS"),
    "negative.yaml": ("name: x\nmotion:\n  set_passes: -24\n",
                      ":3: error: motion.set_passes: -24 is out of range: allowed 1 to 2000 passes"),
    "fraction.yaml": ("name: x\nmotion:\n  set_passes: 2.5\n", ":3: error: motion.set_passes: 2.5 is not a whole number"),
    "choice.yaml": ("name: x\nmotion:\n  path: circle\n",
                    ":3: error: motion.path: 'circle' is not one of: horizontal, vertical, diagonal_up, diagonal_down"),
    "colour.yaml": ("name: x\nvisual:\n  target_color: red\n",
                    ":3: error: visual.target_color: 'red' is not a colour like \"#1d2126\""),
    "list.yaml": ("- name: x\n", ": error: the file is a list, expected a mapping of preset fields"),
    "section-list.yaml": ("name: x\nmotion: [1, 2]\n",
                          ":2: error: motion: expected a mapping of motion settings, got a list"),
    "empty.yaml": ("", ": error: the file is empty, expected a mapping of preset fields"),
    "blank.yaml": ("  \n\n", ": error: the file is empty, expected a mapping of preset fields"),
    "no-name.yaml": ("motion: {}\n", ": error: name: missing: every preset needs a name"),
    "tag.yaml": ("!!python/object/apply:os.system ['touch PWNED']\n",
                 ":1: error: the tag !!python/object/apply:os.system is not allowed: a preset holds plain values "
                 "only (numbers, text, true/false); nothing in it is ever run"),
    "tag-new.yaml": ("name: !!python/object/new:os.system ['touch PWNED']\n",
                     ":1: error: the tag !!python/object/new:os.system is not allowed"),
    "newer.yaml": ("schema_version: 99\nname: x\n",
                   ":1: error: schema_version: this preset was written by a newer bls (schema 99; this bls reads up "
                   "to 1); update bls to use it"),
    "old.yaml": ("schema_version: 0\nname: x\n", ":1: error: schema_version: 0 is not a schema version this bls knows"),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\x00\xff", ": error: not a text file (it is not UTF-8): is this really a preset?"),
    "control.yaml": (b"name: x\x00\n", ": error: not valid YAML: unacceptable character #x0000"),
}


def test_validate_refuses_each_malformed_kind_with_file_line_field_and_value(tmp_path):
    """One process checks them all (each file is reported on its own line, in order)."""
    files = []
    for name, (content, _) in sorted(MALFORMED.items()):
        f = tmp_path / name
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        files.append(f)
    before = {f: f.read_bytes() for f in files}
    proc = bls("validate", *map(str, files), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == len(files)  # exactly one problem each, no "ok"
    for f, line in zip(files, lines):
        said = MALFORMED[f.name][1]
        assert line.startswith(f"{f}{said}"), (f.name, line)
    assert not (tmp_path / "PWNED").exists()
    assert {f: f.read_bytes() for f in files} == before


def test_validate_fails_when_any_file_fails_and_reports_every_file(tmp_path):
    good = builtin_presets_dir() / "slow.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmotion:\n  speed_cycles_per_s: 3\n  set_passes: 0\ntiming:\n  rest_s: -1\n")
    missing = tmp_path / "missing.yaml"
    proc = bls("validate", str(good), str(bad), str(missing))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{good}: ok (slow)",
        f"{bad}:3: error: motion.speed_cycles_per_s: 3 is out of range: allowed 0.05 to 2 cycles/s",
        f"{bad}:4: error: motion.set_passes: 0 is out of range: allowed 1 to 2000 passes",
        f"{bad}:6: error: timing.rest_s: -1 is out of range: allowed 0 to 600 s",
        f"{missing}: error: cannot read the file: No such file or directory",
    ]


def test_import_then_list_shows_it_as_yours(tmp_path):
    src = tmp_path / "from-sam.yaml"
    src.write_text(dump_preset(mine("Sam's calm", 0.4)), encoding="utf-8")
    proc = bls("import", str(src))
    assert proc.returncode == 0
    target = user_dir() / "sam's-calm.yaml"
    assert proc.stdout == f"imported \"Sam's calm\" into {target}\n"
    assert parse_preset_text(target.read_text(encoding="utf-8")) == (mine("Sam's calm", 0.4), [])
    lines = bls("list").stdout.splitlines()
    assert [ln.split()[0] for ln in lines[:6]] == BUILTINS
    assert re.fullmatch(r"Sam's calm\s+yours\s+0\.40 cycles/s\s+10 passes \(~12 s\)", lines[6])


def test_import_with_notes_prints_them(tmp_path):
    src = tmp_path / "typo.yaml"
    src.write_text("name: typo\ncolour: red\n")
    proc = bls("import", str(src))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == f"{src}:2: warning: colour: unknown setting 'colour' (ignored); known " \
                                          "here: name, description, rationale, gentle, motion, visual, audio, " \
                                          "timing, schema_version"


def test_import_an_invalid_file_exits_1_lists_every_problem_and_adds_nothing(tmp_path):
    src = tmp_path / "bad.yaml"
    src.write_text("name: bad\nmotion:\n  speed_cycles_per_s: 3\naudio:\n  tone: bell\n")
    proc = bls("import", str(src))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"bls presets: {src}:3: error: motion.speed_cycles_per_s: 3 is out of range: allowed 0.05 to 2 cycles/s",
        f"{src}:5: error: audio.tone: 'bell' is not one of: soft_sine, warm, pulse"]
    assert not user_dir().exists() or list(user_dir().glob("*.yaml")) == []


def test_export_then_validate_ok_and_import_elsewhere_equal(tmp_path):
    (tmp_path / "share").mkdir()
    out = tmp_path / "share" / "gentle-for-sam.yaml"
    proc = bls("export", "gentle", str(out))
    assert proc.returncode == 0 and proc.stdout == f"exported 'gentle' to {out}\n"
    check = bls("validate", str(out))
    assert check.returncode == 0 and check.stdout == f"{out}: ok (gentle)\n"
    env = base_env(BLS_CONFIG_DIR=str(tmp_path / "colleague"))
    proc = run(bls_command() + ["presets", "import", str(out), "--name", "gentle (from Ann)"], env, timeout=60)
    no_traceback(proc)
    assert proc.returncode == 0
    got = PresetLibrary(tmp_path / "colleague" / "presets").get("gentle (from Ann)")
    assert got == PresetLibrary().get("gentle").with_(name="gentle (from Ann)")


@pytest.mark.parametrize("args, said", [
    (["show", "nosuch"], "bls presets: no preset named 'nosuch'; available: standard, slow, gentle, resourcing, "
                         "desensitisation, eyes-closed"),
    (["export", "nosuch", "out.yaml"], "bls presets: no preset named 'nosuch'; available: standard,"),
    (["import", "{builtin}"], "bls presets: a preset named 'slow' already exists: import it under another name"),
    (["import", "{builtin}", "--name", "a/b"], "bls presets: a name cannot contain “/”, “\\” or “:”"),
    (["import", "{builtin}", "--name", "gentle"], "bls presets: a preset named 'gentle' already exists"),
])
def test_errors_exit_1_with_one_message_line(tmp_path, args, said):
    args = [a.replace("{builtin}", str(builtin_presets_dir() / "slow.yaml")) for a in args]
    proc = bls(*args, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(said), proc.stderr
    assert not (tmp_path / "out.yaml").exists()
    assert not user_dir().exists() or list(user_dir().glob("*.yaml")) == []


def test_a_broken_user_file_is_reported_and_the_rest_still_listed():
    user_dir().mkdir(parents=True)
    bad = user_dir() / "broken.yaml"
    bad.write_text("name: broken\nmotion:\n  speed_cycles_per_s: 9\n")
    raw = bad.read_bytes()
    (user_dir() / "calm.yaml").write_text(dump_preset(mine()))
    proc = bls("list")
    assert proc.returncode == 0
    assert [ln.split()[0] for ln in proc.stdout.splitlines()] == BUILTINS + ["calm"]
    assert proc.stderr == (f"bls presets: {bad}:3: error: motion.speed_cycles_per_s: 9 is out of range: "
                           "allowed 0.05 to 2 cycles/s\n")
    assert bad.read_bytes() == raw


def test_usage_errors_are_argparse_messages_not_tracebacks():
    for args in ([], ["validate"], ["frobnicate"]):
        proc = bls(*args)
        assert proc.returncode == 2 and "usage: bls presets" in proc.stderr


def test_validate_a_file_with_a_huge_number_prints_an_error_not_a_traceback(tmp_path):
    f = tmp_path / "huge.yaml"
    f.write_text("name: x\nmotion:\n  set_passes: " + "9" * 400 + "\n")
    proc = bls("validate", str(f))
    assert proc.returncode == 1 and proc.stdout.startswith(f"{f}:3: error: motion.set_passes: ")


def test_a_gentle_file_beyond_the_envelope_lists_and_shows_at_the_limit_and_is_not_rewritten():
    user_dir().mkdir(parents=True)
    f = user_dir() / "too-fast.yaml"
    f.write_text("name: too fast\ngentle: true\nmotion:\n  speed_cycles_per_s: 0.55\n  set_passes: 10\n"
                 "audio:\n  level_dbfs: -30\n  carrier_hz: 200\n  pan_depth_pct: 70\n"
                 "timing:\n  fade_in_s: 3\n  fade_out_s: 3\n  rest_s: 30\n"
                 "visual:\n  target_diameter_pct: 14\n  target_softness_pct: 80\n"
                 "  target_color: '#8a7a66'\n  background_color: '#1f1a16'\n", encoding="utf-8")
    raw, mtime = f.read_bytes(), f.stat().st_mtime_ns
    proc = bls("list")
    assert proc.returncode == 0
    assert re.fullmatch(r"too fast\s+yours\s+0\.50 cycles/s\s+10 passes \(~10 s\) gentle", proc.stdout.splitlines()[-1])
    assert proc.stderr == (f"bls presets: {f}:4: warning: motion.speed_cycles_per_s: 0.55 is beyond the gentle "
                           "limit (at most 0.5 cycles/s): loads as 0.5\n")
    shown = bls("show", "too fast")
    assert shown.returncode == 0 and "  speed_cycles_per_s: 0.5\n" in shown.stdout
    assert parse_preset_text(shown.stdout)[1] == []  # what is shown is inside the envelope: nothing to say
    assert f.read_bytes() == raw and f.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in user_dir().iterdir()) == ["too-fast.yaml"]


# --------------------------------------------------------------------------- what export may replace


def _one_message(proc, *words: str) -> str:
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bls presets: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not lines[0].endswith("()")
    return lines[0]


def test_export_to_an_empty_file_name_is_refused_and_writes_nothing_here(tmp_path):
    _one_message(bls("export", "standard", "", cwd=tmp_path), "give a file name")
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_missing_folder_is_refused_not_created(tmp_path):
    out = tmp_path / "no" / "such" / "x.yaml"
    _one_message(bls("export", "standard", str(out)), "the folder", str(out.parent), "does not exist")
    assert not (tmp_path / "no").exists()


def test_export_over_a_file_needs_force(tmp_path):
    out = tmp_path / "notes.yaml"
    out.write_text("my own notes\n")
    _one_message(bls("export", "standard", str(out)), str(out), "already exists", "--force")
    assert out.read_text() == "my own notes\n"
    proc = bls("export", "standard", str(out), "--force")
    assert proc.returncode == 0 and proc.stdout == f"exported 'standard' to {out}\n"
    assert out.read_text(encoding="utf-8") == (builtin_presets_dir() / "standard.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["symlink", "device"])
def test_export_never_replaces_a_link_or_a_device_even_with_force(tmp_path, kind):
    import stat

    target = tmp_path / "out.yaml"
    if kind == "symlink":
        (tmp_path / "real").write_text("not bls's\n")
        target.symlink_to(tmp_path / "real")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        try:
            os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        except OSError as exc:
            pytest.skip(f"mknod is not permitted here: {exc}")
    before = os.lstat(target)
    for extra in ([], ["--force"]):
        _one_message(bls("export", "standard", str(target), *extra), "cannot write", str(target),
                     "symbolic link" if kind == "symlink" else "a device")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    if kind == "symlink":
        assert (tmp_path / "real").read_text() == "not bls's\n"


def test_export_into_a_folder_keeps_a_greek_name(tmp_path):
    user_dir().mkdir(parents=True)
    (user_dir() / "x.yaml").write_text(dump_preset(mine("Ήρεμο μέρος")), encoding="utf-8")
    share = tmp_path / "share"
    share.mkdir()
    proc = bls("export", "Ήρεμο μέρος", str(share))
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in share.iterdir()] == ["ήρεμο-μέρος.yaml"]


# --------------------------------------------------------------------------- files that are not presets


def _capped_child() -> None:
    """In the child: at most 1 GB of address space, so a read without bound fails fast, not the machine."""
    import resource  # noqa: PLC0415

    resource.setrlimit(resource.RLIMIT_AS, (2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))


def bls_quick(*args: str, env: dict[str, str] | None = None):
    """``bls presets ARGS`` that must finish within 20 s (a FIFO read would block forever)."""
    proc = subprocess.run(bls_command() + ["presets", *args], env=env or base_env(), cwd=REPO, capture_output=True,
                          text=True, timeout=20, preexec_fn=_capped_child)
    no_traceback(proc)
    return proc


#: what follows the file's name in the message for each kind of file that is not a preset
NOT_PRESETS = {
    "fifo": ": error: not a regular file (a FIFO): bls reads only preset files",
    "zero": ": error: not a regular file (a device): bls reads only preset files",
    "urandom": ": error: not a regular file (a device): bls reads only preset files",
    "huge": ": error: too big for a preset (200 MB; at most 256 kB)",
    "bomb": ":2: error: uses YAML aliases (&/*), which a preset never needs: write each value out in full",
}
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
        + "name: *i\n")


def not_a_preset(kind: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind in ("zero", "urandom"):
        path.symlink_to(f"/dev/{kind}")
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(200 * 2**20)  # sparse: refused from its size, never read
    else:
        path.write_text(BOMB)
    return path


needs_posix = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and device files are POSIX")


@needs_posix
@pytest.mark.parametrize("kind", sorted(NOT_PRESETS))
def test_list_refuses_a_file_that_is_not_a_preset_at_once_and_lists_the_rest(kind):
    bad = not_a_preset(kind, user_dir())
    (user_dir() / "calm.yaml").write_text(dump_preset(mine()))
    proc = bls_quick("list")
    assert proc.returncode == 0
    assert [ln.split()[0] for ln in proc.stdout.splitlines()] == BUILTINS + ["calm"]
    assert proc.stderr == f"bls presets: {bad}{NOT_PRESETS[kind]}\n"
    show = bls_quick("show", "calm")
    assert show.returncode == 0 and parse_preset_text(show.stdout) == (mine(), [])


@needs_posix
@pytest.mark.parametrize("kind", sorted(NOT_PRESETS))
def test_validate_refuses_a_file_that_is_not_a_preset_at_once_and_checks_the_others(kind, tmp_path):
    bad = not_a_preset(kind, tmp_path)
    good = builtin_presets_dir() / "slow.yaml"
    proc = bls_quick("validate", str(bad), str(good))
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.splitlines() == [f"{bad}{NOT_PRESETS[kind]}", f"{good}: ok (slow)"]


@needs_posix
@pytest.mark.parametrize("kind", sorted(NOT_PRESETS))
def test_import_refuses_a_file_that_is_not_a_preset_at_once_and_adds_nothing(kind, tmp_path):
    bad = not_a_preset(kind, tmp_path)
    proc = bls_quick("import", str(bad), "--name", "imported")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"bls presets: {bad}{NOT_PRESETS[kind]}\n"
    assert not user_dir().exists() or list(user_dir().iterdir()) == []
