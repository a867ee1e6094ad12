"""``bls script`` with the clinician's actions: checked as the script is read, stored like the app's."""

import datetime as dt
import json
import sqlite3

import pytest

from bls.core.library import PresetLibrary
from bls.session.record import SessionRecord
from bls.session.script import ScriptError, parse_script, run
from bls.session.store import RecordStore


def _problems(text):
    with pytest.raises(ScriptError) as info:
        parse_script(text)
    return info.value.problems


@pytest.mark.parametrize("action, words", [
    ("{at: 1, do: sud, value: 11}", "11 is outside 0 to 10"),
    ("{at: 1, do: sud, value: -1}", "outside 0 to 10"),
    ("{at: 1, do: sud, value: 6.5}", "not a whole number"),
    ("{at: 1, do: voc, value: 0}", "outside 1 to 7"),
    ("{at: 1, do: voc, value: 8}", "outside 1 to 7"),
    ("{at: 1, do: client, code: 'a/b'}", "path separator"),
    ("{at: 1, do: client, code: '..'}", "client code"),
    ("{at: 1, do: client, code: ''}", "empty"),
    ("{at: 1, do: note, text: \"a\\x07b\"}", "control characters"),
    ("{at: 1, do: target, image: x, colour: red}", "unknown colour"),
    ("{at: 1, do: target, sud: 12}", "outside 0 to 10"),
    ("{at: 1, do: medicine, route: oral, minutes_ago: -5}", "minutes_ago"),
    ("{at: 1, do: medicine, route: oral, when: now}", "unknown when"),
    ("{at: 1, do: sud}", "needs value"),
])
def test_bad_clinical_actions_are_refused_before_anything_runs(action, words):
    problems = _problems(f"actions:\n  - {action}\n")
    assert len(problems) == 1 and "action 1" in problems[0] and words in problems[0], problems


def test_a_note_of_100000_characters_is_refused_with_its_length():
    problems = _problems("actions:\n  - {at: 1, do: note, text: " + "x" * 100_000 + "}\n")
    assert "100000 characters" in problems[0] and "at most 1000" in problems[0]


def test_every_bad_action_is_listed_at_once():
    problems = _problems("actions:\n  - {at: 1, do: sud, value: 11}\n  - {at: 2, do: voc, value: 9}\n"
                         "  - {at: 3, do: client, code: 'x\\\\y'}\n")
    assert [p.split(":")[1].strip() for p in problems] == ["action 1", "action 2", "action 3"]


def test_a_digit_key_may_be_written_as_a_number():
    script = parse_script("actions:\n  - {at: 1, do: key, key: 7}\n")
    assert script.actions[0].args["key"] == "7"


SESSION = """
preset: standard
actions:
  - {at: 0.1, do: client, code: C-017}
  - {at: 0.2, do: target, image: the crash, nc: I am helpless, pc: I survived, voc: 3, sud: 7}
  - {at: 0.3, do: medicine, route: sublingual, dose: as prescribed, minutes_ago: 20}
  - {at: 0.5, do: start}
  - {at: 30, do: sud, value: 6}
  - {at: 30.5, do: voc, value: 4}
  - {at: 31, do: note, text: calmer}
  - {at: 32, do: repeat}
  - {at: 60, do: key, key: 1}
  - {at: 60.5, do: key, key: 0}
"""


def test_a_scripted_session_lands_in_the_database_with_its_times(tmp_path):
    db = tmp_path / "records.sqlite3"
    store = RecordStore(db)
    started = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    said = []
    core = run(parse_script(SESSION), PresetLibrary().get("standard"), SessionRecord(), say=said.append,
               store=store, started=started)
    assert core.close_store() == ""
    con = sqlite3.connect(db)
    session = con.execute("SELECT client_code, started_at FROM sessions").fetchall()
    assert session == [("C-017", "2026-03-02T09:00:00+01:00")]
    sets = con.execute("SELECT n, sud, voc, note, medicine_min, started_at, target_n FROM sets ORDER BY n").fetchall()
    # set 1 starts 0.5 s into the session, 20 min 0.3 s after the medicine (marked at 0.3 s, 20 min ago)
    assert sets[0][:4] == (1, 6, 4, "calmer")
    assert sets[0][4] == pytest.approx(20.0, abs=0.05)
    assert sets[0][5] == "2026-03-02T09:00:00+01:00"  # 0.5 s after the start, to the second
    assert sets[1][:4] == (2, 10, None, "")  # "1" then "0" half a second later: 10
    assert sets[1][5] == "2026-03-02T09:00:32+01:00"
    assert {s[6] for s in sets} == {1}
    target = con.execute("SELECT image, nc, pc, voc, sud FROM targets").fetchall()
    assert target == [("the crash", "I am helpless", "I survived", 3, 7)]
    assert any("repeat: applied" in line for line in said)


def test_a_refused_entry_during_a_set_is_said_and_stores_nothing(tmp_path):
    store = RecordStore(tmp_path / "records.sqlite3")
    said = []
    text = "actions:\n  - {at: 0.5, do: start}\n  - {at: 2, do: sud, value: 5}\n"
    core = run(parse_script(text), PresetLibrary().get("standard"), SessionRecord(), say=said.append, store=store)
    assert core.close_store() == ""
    assert any("sud: refused" in line and "after the set" in line for line in said), said
    con = sqlite3.connect(tmp_path / "records.sqlite3")
    assert con.execute("SELECT sud FROM sets").fetchall() == [(None,)]


def test_a_lock_let_go_only_at_the_end_is_recorded_as_cleared_and_the_interim_copy_dropped(tmp_path):
    """The database is locked by another program for the whole session and let go just before the
    end: the last write succeeds, so the record says the database is back and the JSON record no
    longer carries the interim copy of the clinical record."""
    db = tmp_path / "records.sqlite3"
    RecordStore(db).close()  # the database exists, so the other program can lock it
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    record = SessionRecord(tmp_path / "session.json")
    try:
        core = run(parse_script(SESSION), PresetLibrary().get("standard"), record, say=lambda _l: None,
                   store=RecordStore(db, retry_s=0.05))
        kept = json.loads((tmp_path / "session.json").read_text())
        assert kept["clinical"]["client_code"] == "C-017"  # kept in the JSON record meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert core.close_store(10.0) == ""
    states = [e["ok"] for e in core.record.events if e["kind"] == "record_db"]
    assert states[0] is False and states[-1] is True
    assert "clinical" not in json.loads((tmp_path / "session.json").read_text())
    assert [r[0] for r in sqlite3.connect(db).execute("SELECT n FROM sets ORDER BY n")] == [1, 2]
