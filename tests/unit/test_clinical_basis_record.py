"""docs/clinical-basis.md section 9 states the ranges the session record accepts: they are the code's."""

import re
from pathlib import Path

import pytest

from bls.session import clinical
from bls.session.clinical import EntryError

DOC = (Path(__file__).resolve().parents[2] / "docs" / "clinical-basis.md").read_text(encoding="utf-8")
SECTION = DOC.split("## 9. The session record", 1)[1].split("\n## ", 1)[0]


def row(field: str) -> str:
    for line in SECTION.splitlines():
        if line.startswith(f"| {field}"):
            return line
    raise AssertionError(f"no row for {field!r} in section 9")


def test_the_sud_range_in_the_document_is_the_range_bls_accepts():
    lo, hi = map(int, re.search(r"whole numbers (\d+) \(none\) to (\d+)", row("SUD")).groups())
    assert clinical.check_sud(lo) == lo and clinical.check_sud(hi) == hi
    for outside in (lo - 1, hi + 1):
        with pytest.raises(EntryError):
            clinical.check_sud(outside)


def test_the_voc_range_in_the_document_is_the_range_bls_accepts():
    lo, hi = map(int, re.search(r"whole numbers (\d+) \(completely false\) to (\d+)", row("VOC")).groups())
    assert clinical.check_voc(lo) == lo and clinical.check_voc(hi) == hi
    for outside in (lo - 1, hi + 1):
        with pytest.raises(EntryError):
            clinical.check_voc(outside)


@pytest.mark.parametrize("field, check", [
    ("note after a set", lambda text: clinical.check_text("note", text, clinical.NOTE_MAX)),
    ("target:", lambda text: clinical.check_target({"image": text})),
    ("client code", clinical.check_code),
])
def test_the_length_limits_in_the_document_are_enforced(field, check):
    limit = int(re.search(r"at most (\d+) characters", row(field)).group(1))
    check("a" * limit)
    with pytest.raises(EntryError):
        check("a" * (limit + 1))


def test_the_ten_window_in_the_document_is_the_key_state_machines():
    window = float(re.search(r"typed within (\d+(?:\.\d+)?) s is a SUD of 10", SECTION).group(1))
    keys = clinical.EntryKeys()
    keys.key("1", 100.0)
    assert keys.key("0", 100.0 + window * 0.95) == ("sud", 10)
    keys.key("1", 200.0)
    assert keys.key("0", 200.0 + window * 1.05) == ("sud", 0)
