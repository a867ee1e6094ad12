"""The CSV export of a session's clinical record: read back with the csv module, it says what the session
dict says; a spreadsheet never runs a note as a formula; UTF-8 with a BOM; private (0600); written only
over a regular file."""

from __future__ import annotations

import csv
import io
import os
import stat

import pytest

from bls.core.atomic import WriteRefused
from bls.session import export

NOTES = ["calmer, image further away", '=HYPERLINK("http://x.example","click")', "+1 worse",
         "-2 he said \"less\"", "@SUM(A1:A2)", "Ängste — 怖い, 😮 é"]


def make_session() -> dict:
    """A session as Records.session returns it, written out by hand (not by the code under test)."""
    sets = []
    for i, note in enumerate(NOTES, 1):
        sets.append({
            "n": i, "target_n": 1, "started_at": f"2026-03-14T10:{10 + 2 * i:02d}:05+01:00",
            "ended_at": f"2026-03-14T10:{10 + 2 * i:02d}:41+01:00", "started_s": 100.0 * i, "ended_s": 100.0 * i + 36,
            "preset": "gentle" if i == 3 else "standard", "stop_reason": "stopped" if i == 2 else "complete",
            "set_mode": "passes", "passes_requested": 24, "passes_delivered": 17.5 if i == 2 else 24.0,
            "seconds_requested": None, "seconds_delivered": 35.25 + i,
            "speed_min": 0.4, "speed_max": 0.6 if i == 3 else 0.4, "level_min": -30.5, "level_max": -24.0,
            "carrier_min": 200.0, "carrier_max": 200.0, "target_min": 14.0, "target_max": 14.0,
            "tone": 1, "visual": 1, "gentle": i == 3, "unlocked": {"speed": 0.6} if i == 3 else {},
            "sud": 8 - i, "voc": 2 + i if i <= 5 else None, "note": note,
            "medicine_min": 20.0 + i if i else None, "audio_device": "USB headphones", "display": "CLIENT"})
    return {
        "id": 7, "uid": "0123456789abcdef0123456789abcdef", "client_code": "C-017",
        "started_at": "2026-03-14T10:00:00+01:00", "ended_at": "2026-03-14T10:40:00+01:00",
        "app_version": "0.1.0", "record_file": None,
        "targets": [{"n": 1, "set_at": "2026-03-14T10:05:00+01:00", "image": "the crash", "nc": "I am helpless",
                     "pc": "I survived", "voc": 3, "emotions": "fear", "sud": 7, "body": "chest"}],
        "medicine": [{"n": 1, "taken_at": "2026-03-14T09:50:00+01:00", "route": "sublingual", "dose": "as prescribed"},
                     {"n": 2, "taken_at": "2026-03-14T10:15:00+01:00", "route": "intramuscular",
                      "dose": "second dose"}],
        "sets": sets,
    }


def read(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_one_row_per_set_with_what_the_session_says():
    session = make_session()
    rows = read(export.csv_text(session))
    assert len(rows) == len(session["sets"])
    for row, s in zip(rows, session["sets"]):
        assert row["Session"] == "7" and row["Session UID"] == session["uid"]
        assert row["Client code"] == "C-017" and row["Session date"] == "2026-03-14"
        assert (row["Target"], row["Target image"], row["Negative cognition"], row["Positive cognition"]) == \
            ("1", "the crash", "I am helpless", "I survived")
        assert int(row["Set"]) == s["n"]
        assert row["Started"] == s["started_at"][11:19] and row["Ended"] == s["ended_at"][11:19]
        assert int(row["Passes requested"]) == s["passes_requested"]
        assert float(row["Passes delivered"]) == s["passes_delivered"]
        assert float(row["Seconds delivered"]) == pytest.approx(s["seconds_delivered"])
        for col, key in (("Speed min (cycles/s)", "speed_min"), ("Speed max (cycles/s)", "speed_max"),
                         ("Level min (dBFS)", "level_min"), ("Level max (dBFS)", "level_max"),
                         ("Carrier min (Hz)", "carrier_min"), ("Target size max (% of screen height)", "target_max")):
            assert float(row[col]) == pytest.approx(s[key]), col
        assert row["Gentle"] == ("yes" if s["gentle"] else "no")
        assert row["Tone"] == "yes" and row["Visual"] == "yes"
        assert int(row["SUD"]) == s["sud"]
        assert row["VOC"] == ("" if s["voc"] is None else str(s["voc"]))
        assert float(row["Minutes since medicine"]) == pytest.approx(s["medicine_min"])
    # the medicine mark in force at each set: the first before 10:15, the second after
    assert [r["Medicine route"] for r in rows] == ["sublingual", "sublingual", "intramuscular", "intramuscular",
                                                  "intramuscular", "intramuscular"]
    assert rows[0]["Medicine dose"] == "as prescribed" and rows[3]["Medicine dose"] == "second dose"
    assert rows[1]["Ended how"] == "stopped early" and rows[0]["Ended how"] == "complete"


def test_unlocks_are_in_words_with_the_limit():
    rows = read(export.csv_text(make_session()))
    assert rows[2]["Unlocked"].startswith("Speed 0.6 cycles/s") and "0.5" in rows[2]["Unlocked"]
    assert rows[0]["Unlocked"] == ""


def test_a_note_never_becomes_a_formula_and_numbers_stay_numbers():
    rows = read(export.csv_text(make_session()))
    notes = [r["Note"] for r in rows]
    for note, got in zip(NOTES, notes):
        if note[0] in "=+-@":
            assert got == "'" + note  # shown as text, every character kept
        else:
            assert got == note
    # a negative number is a number, not text with a quote
    assert rows[0]["Level min (dBFS)"] == "-30.5"


def test_formula_text_in_any_text_field_is_neutralised():
    session = make_session()
    session["targets"][0]["image"] = "=cmd|' /C calc'!A0"
    session["medicine"][0]["dose"] = "-1+1"
    rows = read(export.csv_text(session))
    assert rows[0]["Target image"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["Medicine dose"] == "'-1+1"


def test_quotes_commas_and_unicode_survive_the_round_trip(tmp_path):
    session = make_session()
    path = tmp_path / "session.csv"
    export.write_csv(session, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    assert b"\r\n" in raw
    rows = read(raw.decode("utf-8-sig"))
    assert rows[3]["Note"] == "'" + NOTES[3]
    assert rows[5]["Note"] == "Ängste — 怖い, 😮 é"
    assert rows[0]["Note"] == "calmer, image further away"


def test_a_session_without_sets_is_the_header_only():
    session = make_session()
    session["sets"] = []
    text = export.csv_text(session)
    assert read(text) == []
    assert next(csv.reader(io.StringIO(text))) == list(export.CSV_HEADER)


def test_missing_values_are_empty_cells_not_none():
    session = make_session()
    for k in ("sud", "voc", "medicine_min", "speed_min", "speed_max", "passes_requested"):
        session["sets"][0][k] = None
    session["medicine"] = []
    session["client_code"] = None
    row = read(export.csv_text(session))[0]
    for col in ("SUD", "VOC", "Minutes since medicine", "Speed min (cycles/s)", "Passes requested",
                "Client code", "Medicine route"):
        assert row[col] == "", col
    assert "None" not in export.csv_text(session)


def test_written_privately_also_over_a_readable_file(tmp_path):
    path = tmp_path / "new.csv"
    export.write_csv(make_session(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    old = tmp_path / "old.csv"
    old.write_text("old")
    os.chmod(old, 0o644)
    export.write_csv(make_session(), old)
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert old.read_bytes().startswith(b"\xef\xbb\xbfSession,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "old.csv"]  # no temporary file left


def test_refuses_a_symlink_and_leaves_both_alone(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("someone else's file")
    link = tmp_path / "session.csv"
    link.symlink_to(real)
    with pytest.raises(WriteRefused) as err:
        export.write_csv(make_session(), link)
    assert "symbolic link" in str(err.value)
    assert link.is_symlink() and real.read_text() == "someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.txt", "session.csv"]


def test_refuses_a_folder_and_a_missing_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(WriteRefused) as err:
        export.write_csv(make_session(), tmp_path / "folder")
    assert "folder" in str(err.value)
    with pytest.raises(FileNotFoundError):
        export.write_csv(make_session(), tmp_path / "nowhere" / "s.csv")
    assert not (tmp_path / "nowhere").exists()


def test_the_live_session_document_exports(tmp_path):
    """SessionCore.clinical_document() (the live session, id None, booleans) exports the same way."""
    from bls.core.library import PresetLibrary
    from bls.session.record import SessionRecord
    from bls.session.script import parse_script, run

    script = parse_script("""
preset: standard
actions:
  - {at: 0.1, do: client, code: C-099}
  - {at: 0.2, do: target, image: "the dog", sud: 6, voc: 2}
  - {at: 0.5, do: start}
  - {at: 30, do: sud, value: 4}
  - {at: 30.5, do: note, text: "=shoulders drop"}
""")
    core = run(script, PresetLibrary().get("standard"), SessionRecord(copies=[]), say=lambda _t: None)
    doc = core.clinical_document()
    assert doc["id"] is None
    rows = read(export.csv_text(doc))
    assert len(rows) == len(doc["sets"]) == 1
    assert rows[0]["Session"] == "" and rows[0]["Client code"] == "C-099"
    assert rows[0]["Target image"] == "the dog" and rows[0]["SUD"] == "4"
    assert rows[0]["Note"] == "'=shoulders drop"
    assert rows[0]["Tone"] == ("yes" if doc["sets"][0]["tone"] else "no")
    assert float(rows[0]["Passes delivered"]) == doc["sets"][0]["passes_delivered"]
