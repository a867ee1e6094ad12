"""``bls sessions show``'s text: who and when, the target, medicine and a line per set with its SUD, VOC
and whole note; empty fields are "—"; the limits unlocked are said in words, once per run of sets."""

from __future__ import annotations

import re

from bls.session import export

from .test_export_csv import NOTES, make_session


def set_lines(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^\s+(\d+)\s+\d\d:\d\d:\d\d\s.*$", text, re.M)}


def test_every_set_with_its_numbers_and_whole_note():
    session = make_session()
    text = export.session_text(session)
    lines = set_lines(text)
    assert sorted(lines) == [s["n"] for s in session["sets"]]
    for s in session["sets"]:
        line = lines[s["n"]]
        assert line.endswith(s["note"])  # as typed: no quote added, nothing cut
        cells = line[: -len(s["note"])].split()
        assert cells[0] == str(s["n"]) and cells[1] == s["started_at"][11:19]
        assert str(s["sud"]) in cells and (str(s["voc"]) if s["voc"] is not None else "—") in cells
    assert "17.5 of 24, stopped" in lines[2]
    assert "C-017" in text and "Saturday 14 March 2026" in text
    assert "10:00:00–10:40:00 (UTC+01:00), 40 min 00 s" in text
    assert "Image" in text and "the crash" in text and "I am helpless" in text and "sublingual" in text


def test_empty_fields_and_unlocks():
    session = make_session()
    session["targets"][0]["emotions"] = ""
    session["sets"][3]["gentle"] = True
    session["sets"][3]["unlocked"] = {"speed": 0.6}
    text = export.session_text(session)
    assert re.search(r"^\s+Emotions\s+—$", text, re.M)
    assert "* sets 3–4: the therapist unlocked Speed 0.6 cycles/s (gentle limit at most 0.5)" in text
    assert NOTES[-1] in text


def test_a_session_with_nothing_in_it():
    text = export.session_text({"id": None, "uid": "u", "client_code": None, "started_at": "2026-03-14T10:00:00+01:00",
                                "ended_at": None, "targets": [], "medicine": [], "sets": []})
    assert "the session as it runs" in text and "in progress" in text
    assert "No target was recorded" in text and "No medicine was marked" in text and "No set was run" in text
    assert re.search(r"^Client\s+—$", text, re.M)


def test_minutes_since_medicine_are_whole_minutes_in_the_text():
    session = make_session()
    for s, m in zip(session["sets"], (23.4, 23.5, 9.96, None)):
        s["medicine_min"] = m
    lines = set_lines(export.session_text(session))
    cells = [lines[s["n"]][: -len(s["note"]) or None].split() for s in session["sets"][:4]]
    assert "23" in cells[0] and "23.4" not in cells[0]
    assert "24" in cells[1] and "10" in cells[2]
    assert [export.minutes(v) for v in (0.4, 59.5, 120.0, None, float("nan"))] == ["0", "60", "120", "", ""]
