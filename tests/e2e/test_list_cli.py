"""``bls --list-screens`` and ``bls --list-audio``: what --client-screen and --audio-device accept."""

from __future__ import annotations

import pytest

from bls import cli

from .conftest import base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e


def test_list_screens_prints_each_screen_by_the_name_client_screen_takes(screens_env):
    proc = run([*bls_command(), "--list-screens"], screens_env, timeout=60)
    no_traceback(proc)
    assert proc.returncode == 0
    names = sorted(line.split("\t")[0] for line in proc.stdout.splitlines())
    assert names == ["CLIENT", "THERAPIST"]
    assert "--client-screen" in proc.stderr


def test_list_screens_without_a_desktop_says_so(tmp_path):
    env = base_env()
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(var, None)
    proc = run([*bls_command(), "--list-screens"], env, timeout=60)
    no_traceback(proc)
    assert proc.returncode == 1 and "no desktop" in proc.stderr and proc.stdout == ""


def test_list_audio_answers_on_any_machine(tmp_path):
    # with or without sound cards, ALSA plugins or a JACK server: a list, or a plain "none found"
    proc = run([*bls_command(), "--list-audio"], base_env(), timeout=60)
    no_traceback(proc)
    assert proc.returncode == 0
    assert proc.stdout.strip() or "No sound outputs found" in proc.stderr


@pytest.mark.parametrize("found, status, out, err", [
    (["pulse", "HDA Intel PCH: ALC3246 Analog (hw:0,0)"], 0, "pulse\nHDA Intel PCH: ALC3246 Analog (hw:0,0)\n",
     "--audio-device NAME"),
    ([], 0, "", "No sound outputs found"),
    (None, 1, "", "did not answer"),
])
def test_list_audio_prints_names_one_per_line_or_why_not(monkeypatch, capsys, found, status, out, err):
    import bls.audio.output as output

    monkeypatch.setattr(output, "list_outputs_in_child", lambda: found)
    assert cli.list_audio() == status
    captured = capsys.readouterr()
    assert captured.out == out and err in captured.err
