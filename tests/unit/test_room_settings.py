"""The room file: numbers per screen and per output, kept across runs, never overwriting what is not
bls's own."""
import json
import os
import stat

import pytest

from bls.core.room import RoomSettings


def test_values_survive_a_new_store_and_merge(tmp_path):
    path = tmp_path / "room.json"
    RoomSettings(path).put("screens", "HDMI-1", {"width_mm": 531.0, "distance_cm": 60})
    store = RoomSettings(path)
    store.put("screens", "HDMI-1", {"distance_cm": 80})
    again = RoomSettings(path)
    assert again.get("screens", "HDMI-1") == {"width_mm": 531.0, "distance_cm": 80.0}
    assert again.get("screens", "DP-2") == {}
    assert again.get("outputs", "HDMI-1") == {}  # kinds are apart
    assert again.problem == ""


def test_none_forgets_a_field_and_an_empty_entry_goes(tmp_path):
    store = RoomSettings(tmp_path / "room.json")
    store.put("outputs", "Headphones", {"audio_delay_ms": 180})
    store.put("outputs", "Headphones", {"audio_delay_ms": None})
    assert "Headphones" not in json.loads((tmp_path / "room.json").read_text())["outputs"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "60", True])
def test_bad_values_are_refused_and_nothing_changes(tmp_path, value):
    store = RoomSettings(tmp_path / "room.json")
    store.put("screens", "S", {"distance_cm": 60})
    with pytest.raises(ValueError):
        store.put("screens", "S", {"distance_cm": value})
    assert RoomSettings(tmp_path / "room.json").get("screens", "S") == {"distance_cm": 60.0}


def test_a_foreign_file_is_left_alone_and_said_so(tmp_path):
    path = tmp_path / "room.json"
    path.write_text('{"theirs": 1}')
    store = RoomSettings(path)
    assert "not a bls room file" in store.problem
    with pytest.raises(OSError):
        store.put("screens", "S", {"distance_cm": 60})
    assert path.read_text() == '{"theirs": 1}'


def test_a_broken_file_is_left_alone_and_said_so(tmp_path):
    path = tmp_path / "room.json"
    path.write_text('{"format": "bls-room", ')
    store = RoomSettings(path)
    assert "not valid JSON" in store.problem and store.get("screens", "S") == {}
    with pytest.raises(OSError):
        store.put("screens", "S", {"distance_cm": 60})
    assert path.read_text() == '{"format": "bls-room", '


def test_a_newer_file_is_read_but_not_changed(tmp_path):
    path = tmp_path / "room.json"
    text = json.dumps({"format": "bls-room", "version": 99, "screens": {"S": {"distance_cm": 75}}})
    path.write_text(text)
    store = RoomSettings(path)
    assert store.get("screens", "S") == {"distance_cm": 75.0} and "newer bls" in store.problem
    with pytest.raises(OSError):
        store.put("screens", "S", {"distance_cm": 60})
    assert path.read_text() == text


def test_the_previous_version_is_kept_as_a_backup(tmp_path):
    store = RoomSettings(tmp_path / "room.json")
    store.put("screens", "S", {"distance_cm": 60})
    store.put("screens", "S", {"distance_cm": 70})
    assert json.loads((tmp_path / "room.json.bak").read_text())["screens"]["S"] == {"distance_cm": 60.0}


def test_a_value_the_file_refuses_is_kept_for_the_session(tmp_path):
    path = tmp_path / "room.json"
    path.write_text('{"theirs": 1}')
    store = RoomSettings(path)
    with pytest.raises(OSError):
        store.put("outputs", "Headphones", {"audio_delay_ms": 180})
    assert store.get("outputs", "Headphones") == {"audio_delay_ms": 180.0}
    assert path.read_text() == '{"theirs": 1}'


def test_a_store_in_memory_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BLS_CONFIG_DIR", str(tmp_path))
    store = RoomSettings.in_memory()
    store.put("screens", "S", {"distance_cm": 80})
    assert store.get("screens", "S") == {"distance_cm": 80.0}
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_in_its_place_is_never_read_nor_replaced(tmp_path):
    path = tmp_path / "room.json"
    os.mkfifo(path)  # reading it would block the app at start
    store = RoomSettings(path)
    assert "not a small text file" in store.problem
    with pytest.raises(OSError):
        store.put("screens", "S", {"distance_cm": 60})
    assert stat.S_ISFIFO(os.stat(path).st_mode)
