"""Found by a second red-team review (faults, signals, hostile files): each failed before its fix."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bls.core.engine import StimulusEngine
from bls.core.library import LibraryError, check_name
from bls.core.preset import find_preset
from bls.core.uistate import UiState
from bls.session.script import ScriptError, parse_script


# --------------------------------------------------------------------------- ui.json read defensively


def test_ui_json_with_a_5000_digit_number_is_ignored_not_fatal(tmp_path):
    (tmp_path / "ui.json").write_text('{"client_screen": 1' + "0" * 5000 + "}")
    state = UiState(tmp_path)  # must not raise
    assert state.problem and state.get("client_screen") is None


def test_ui_json_nested_too_deep_is_ignored_not_fatal(tmp_path):
    (tmp_path / "ui.json").write_text("[" * 60000)
    state = UiState(tmp_path)  # must not raise
    assert state.problem


# --------------------------------------------------------------------------- bls script read defensively


@pytest.mark.parametrize("where", ["value", "at", "until"])
def test_script_with_a_5000_digit_number_is_a_script_error(where):
    big = "9" * 5000
    text = {"value": f"preset: standard\nactions:\n  - {{at: 1, do: set, field: motion.speed_cycles_per_s, value: {big}}}\n",
            "at": f"preset: standard\nactions:\n  - {{at: {big}, do: start}}\n",
            "until": f"preset: standard\nuntil: {big}\nactions:\n  - {{at: 1, do: start}}\n"}[where]
    with pytest.raises(ScriptError):
        parse_script(text)


def test_script_nested_too_deep_is_a_script_error():
    with pytest.raises(ScriptError):
        parse_script("preset: standard\nactions:\n  - {at: " + "[" * 100000 + "\n")


# --------------------------------------------------------------------------- look-alike names


@pytest.mark.parametrize("name", ["sIow", "eyes-cIosed", "sІow", "standaгd", "ꜱtandard", "standard\u2800"])
def test_names_that_look_like_a_builtin_are_refused(name):
    with pytest.raises(LibraryError):
        check_name(name)


# --------------------------------------------------------------------------- engine entry points


def _run(engine, n):
    out = np.zeros((n, 2), np.float32)
    for i in range(0, n, 4800):
        engine.process(4800, out[i:i + 4800])
    return out


@pytest.mark.parametrize("fade_s", [float("nan"), -1.0, float("inf")])
def test_hurry_with_a_bad_fade_is_refused_or_still_fades_to_silence(fade_s):
    engine = StimulusEngine(find_preset("standard"), max_block=4800)
    engine.start()
    before = _run(engine, 48000)
    assert np.abs(before[-4800:]).max() > 0.01
    try:
        engine.hurry(fade_s)
    except ValueError:
        return  # refused: fine
    after = _run(engine, 48000 * 3)
    assert np.abs(after[:48]).max() > 0.005, "cut to silence within 1 ms: a click"
    assert np.abs(after[-4800:]).max() == 0.0, "still sounding 3 s after hurry()"


# --------------------------------------------------------------------------- files


def test_render_out_and_trace_same_file_through_a_symlinked_folder_is_refused(tmp_path, capsys):
    from bls.cli import main

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    rc = main(["render", "--seconds", "0.1", "--out", str(tmp_path / "link" / "x.wav"),
               "--trace", str(real / "x.wav")])
    assert rc == 2


def test_script_log_and_out_same_file_through_a_symlinked_folder_is_refused(tmp_path):
    from bls.cli import main

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    script = tmp_path / "s.yaml"
    script.write_text("preset: standard\nactions:\n  - {at: 0.1, do: start}\n  - {at: 0.5, do: stop}\n")
    rc = main(["script", str(script), "--log", str(real / "x.json"), "--out", str(tmp_path / "link" / "x.json")])
    assert rc == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (chown)")
def test_replacing_a_file_keeps_its_owner(tmp_path):
    from bls.core.atomic import atomic_write

    target = tmp_path / "theirs.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    os.chown(target, 65534, 65534)
    atomic_write(target, "new", private=True)
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == (65534, 65534)
