"""UI state: remembered through the atomic writer, read without ever blocking or crashing, bls 0.1's
ui.ini carried over once."""

import json
import os
import threading

import pytest

from bls.core.uistate import MAX_BYTES, UiState


def test_what_is_set_is_there_at_the_next_launch_and_the_file_is_json(tmp_path):
    s = UiState(tmp_path)
    assert s.set("client_screen", "HDMI-1") == "" and s.set("client_badge", True) == ""
    again = UiState(tmp_path)
    assert again.get("client_screen") == "HDMI-1" and again.get("client_badge", False, bool) is True
    assert json.loads((tmp_path / "ui.json").read_text()) == {"client_screen": "HDMI-1", "client_badge": True}
    assert again.get("client_badge", "x", str) == "x"  # the wrong kind gives the default


def test_bls_0_1_ui_ini_is_carried_over_when_there_is_no_json(tmp_path):
    (tmp_path / "ui.ini").write_text("[General]\nlast_preset=slow\nclient_badge=true\naudio_device=USB\n")
    s = UiState(tmp_path)
    assert (s.get("last_preset"), s.get("client_badge"), s.get("audio_device")) == ("slow", True, "USB")
    assert s.problem == ""


@pytest.mark.parametrize("content", ["not json", "[1, 2]", "\xff\xfe{", "{\"a\": 1"])
def test_a_broken_file_gives_defaults_a_message_and_is_kept_until_a_setting_changes(tmp_path, content):
    path = tmp_path / "ui.json"
    path.write_bytes(content.encode("latin-1"))
    s = UiState(tmp_path)
    assert s.get("last_preset", "standard") == "standard" and "could not be read" in s.problem
    assert path.read_bytes() == content.encode("latin-1")


def test_a_fifo_or_a_huge_file_never_blocks_nor_is_read(tmp_path):
    fifo = tmp_path / "ui.json"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(UiState(tmp_path)), daemon=True)
    t.start()
    t.join(5.0)
    assert done and "could not be read" in done[0].problem  # returned at once, nobody wrote the FIFO
    fifo.unlink()
    (tmp_path / "ui.json").write_text(json.dumps({"last_preset": "x" * MAX_BYTES}))
    assert UiState(tmp_path).get("last_preset") is None


def test_a_folder_that_cannot_be_written_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    s = UiState(blocker / "bls")  # a folder inside a file cannot exist
    problem = s.set("last_preset", "slow")
    assert problem and "ui.json" in problem
    assert s.get("last_preset") == "slow"  # remembered for this run
