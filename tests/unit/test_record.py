"""The session record: schema-versioned JSON, older records read, newer ones refused, writes atomic and
never fatal."""

import json

import pytest

from bls.session.record import SCHEMA_VERSION, RecordError, SessionRecord, default_record_path, read_record

# a log as bls 0.1 wrote it (tests/qt wrote these with --log before the session core)
V1 = {"app": "bls", "version": "0.1.0", "started_at": "2026-11-30T10:00:00+00:00", "sample_rate_hz": 48000,
      "sets": [{"index": 1, "preset": "gentle", "delivered_passes": 12, "requested_passes": 12,
                "delivered_seconds": 19.36, "stop_reason": "complete", "start_frame": 48000,
                "end_frame": 1_104_000, "gentle": True, "unlocked_limits": ["speed"]}],
      "events": [{"event": "gentle_unlock", "at": "2026-11-30T10:00:05+00:00", "frame": 240000}]}


def test_a_record_written_reads_back_with_its_schema_version(tmp_path):
    rec = SessionRecord(tmp_path / "a.json", [tmp_path / "copy.json"])
    rec.event(1.5, "gentle_on", preset="gentle")
    assert rec.write() == []
    for f in ("a.json", "copy.json"):
        doc = read_record(tmp_path / f)
        assert doc["schema_version"] == SCHEMA_VERSION == 2
        assert doc["events"] == [{"t_s": 1.5, "kind": "gentle_on", "preset": "gentle"}]


def test_a_version_1_log_is_read_as_the_current_schema_and_left_as_it_was(tmp_path):
    path = tmp_path / "old.json"
    text = json.dumps(V1)
    path.write_text(text)
    doc = read_record(path)
    assert doc["schema_version"] == 2
    (s,) = doc["sets"]
    assert (s["started_s"], s["ended_s"], s["passes_delivered"]) == (1.0, 23.0, 12)
    assert s["unlocked"] == {"speed": None} and s["samples"] == []
    assert doc["events"] == [{"t_s": 5.0, "kind": "gentle_unlock", "at": "2026-11-30T10:00:05+00:00"}]
    assert path.read_text() == text


def test_a_record_from_a_newer_bls_is_refused_and_not_touched(tmp_path):
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"app": "bls", "schema_version": 99, "sets": []}))
    with pytest.raises(RecordError, match="newer bls"):
        read_record(path)
    assert json.loads(path.read_text())["schema_version"] == 99


@pytest.mark.parametrize("content", ["", "[1, 2]", "{\"app\": \"other\"}", "\xff\xfe"])
def test_what_is_not_a_record_says_so(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(RecordError, match="not a bls session record"):
        read_record(path)


def test_a_record_that_cannot_be_written_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rec = SessionRecord(blocker / "sub" / "a.json")  # a folder inside a file cannot exist
    rec.event(0.0, "x")
    errors = rec.write()
    assert len(errors) == 1 and "a.json" in errors[0]


def test_non_finite_numbers_are_written_as_null(tmp_path):
    rec = SessionRecord(tmp_path / "a.json")
    rec.event(0.0, "x", value=float("nan"), other=float("-inf"))
    rec.write()
    assert json.loads((tmp_path / "a.json").read_text())["events"][0] == {"t_s": 0.0, "kind": "x", "value": None,
                                                                          "other": None}


def test_a_new_record_never_takes_an_existing_file(tmp_path):
    import datetime as dt

    when = dt.datetime(2026, 12, 1, 10, 0, 0)
    first = default_record_path(tmp_path, when)
    first.write_text("{}")
    second = default_record_path(tmp_path, when)
    assert first != second and not second.exists()
