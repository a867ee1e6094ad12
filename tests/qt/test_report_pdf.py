"""The PDF session report: written, private, paged; its text (read back with poppler's pdftotext) holds
the client code, the target's fields and every set's SUD and note; many sets flow onto further pages and
nothing is drawn outside the page's margins."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bls.core.atomic import WriteRefused
from bls.ui import report

TZ = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2026, 3, 14, 10, 0, tzinfo=TZ)
LONG_NOTE = ("she remembered the corridor, the smell of floor polish, the teacher calling her name twice; "
             "then the bell, and everyone leaving while she stayed at the desk, unable to move. " * 3).strip()


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def make_session(n_sets: int = 8, live: bool = False) -> dict:
    """A session as Records.session returns it, written out by hand."""
    suds = [7, 6, 6, 4, 3, 2, 1, 0]
    sets = []
    for i in range(1, n_sets + 1):
        start = T0 + dt.timedelta(minutes=3 * i, seconds=5)
        sets.append({
            "n": i, "target_n": 1, "started_at": iso(start), "ended_at": iso(start + dt.timedelta(seconds=40)),
            "started_s": 180.0 * i, "ended_s": 180.0 * i + 40, "preset": "gentle", "stop_reason": "complete",
            "set_mode": "passes", "passes_requested": 12, "passes_delivered": 12.0, "seconds_requested": None,
            "seconds_delivered": 34.25, "speed_min": 0.35, "speed_max": 0.6 if i == 4 else 0.35,
            "level_min": -30.0, "level_max": -30.0, "carrier_min": 200.0, "carrier_max": 200.0,
            "target_min": 14.0, "target_max": 14.0, "tone": 1, "visual": 1, "gentle": True,
            "unlocked": {"speed": 0.6} if i == 4 else {},
            "sud": suds[(i - 1) % len(suds)], "voc": 3 + i // 3 if i % 2 == 0 else None,
            "note": LONG_NOTE if i % 7 == 3 else f"set {i}: Zoë noticed the ‘warmth’ — chest {i}",
            "medicine_min": 25 + 3 * i, "audio_device": "USB headphones", "display": "CLIENT"})
    return {
        "id": None if live else 3, "uid": "ab" * 16, "client_code": "C-017",
        "started_at": iso(T0), "ended_at": None if live else iso(T0 + dt.timedelta(minutes=3 * n_sets + 5)),
        "app_version": "0.1.0", "record_file": None,
        "targets": [{"n": 1, "set_at": iso(T0), "image": "the crash at the junction", "nc": "I am helpless",
                     "pc": "I survived", "voc": 2, "emotions": "", "sud": 8, "body": "tight chest"}],
        "medicine": [{"n": 1, "taken_at": iso(T0 - dt.timedelta(minutes=25)), "route": "sublingual",
                      "dose": "as prescribed"}],
        "sets": sets,
    }


def pdftotext(path: Path, *args: str) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed (apt-get install poppler-utils)")
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def pages_in(path: Path) -> int:
    """Pages, as poppler counts them (pdfinfo), else the page objects in the file."""
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
        return int(re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE).group(1))
    return len(re.findall(rb"/Type\s*/Page(?!s)", path.read_bytes()))


@pytest.fixture
def pdf8(qapp, tmp_path):
    session = make_session(8)
    path = tmp_path / "report.pdf"
    pages = report.write_pdf(session, path)
    return session, path, pages


def test_the_report_is_a_private_pdf_of_a_page_or_two(pdf8):
    _, path, pages = pdf8
    assert path.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert 1 <= pages <= 2
    assert pages_in(path) == pages
    assert [p.name for p in path.parent.iterdir()] == ["report.pdf"]  # no temporary file left


def test_the_text_holds_the_client_the_target_and_every_set(pdf8):
    session, path, pages = pdf8
    text = flat(pdftotext(path, "-raw"))
    assert "EMDR session record" in text and "C-017" in text
    t = session["targets"][0]
    for label, value in (("Image", t["image"]), ("Negative cognition (NC)", t["nc"]),
                         ("Positive cognition (PC)", t["pc"]), ("VOC at assessment (1–7)", str(t["voc"])),
                         ("SUD at assessment (0–10)", str(t["sud"])), ("Body location", t["body"])):
        assert f"{label} {value}" in text, label
    assert "Emotions —" in text  # an empty field is shown as empty, not left out
    assert "sublingual" in text and "as prescribed" in text and "25 min before the session began" in text
    for s in session["sets"]:
        time = s["started_at"][11:19]
        voc = "—" if s["voc"] is None else str(s["voc"])
        row = re.search(rf"(?:^| ){s['n']} {time} .*? {s['sud']} {voc} {s['medicine_min']} ", text)
        assert row, f"set {s['n']}: its row with SUD {s['sud']}"
        assert text[row.end():].startswith(s["note"]), f"set {s['n']}: its whole note after its numbers"
    assert "Speed 0.6 cycles/s" in text  # the unlock, in words
    assert " 0.35–0.60 " in text  # set 4's delivered speed range, whole (a number is never broken)
    for p in range(1, pages + 1):
        assert f"Page {p} of {pages}" in text
    assert "read from the stimulus engine" in text and "Generated by bls" in text
    assert_inside_margins(path)


def test_forty_sets_flow_onto_more_pages_and_nothing_is_cut(qapp, tmp_path):
    short = tmp_path / "short.pdf"
    long = tmp_path / "long.pdf"
    few = report.write_pdf(make_session(8), short)
    session = make_session(40)
    pages = report.write_pdf(session, long)
    assert pages > few and pages >= 3
    assert pages_in(long) == pages
    text = flat(pdftotext(long, "-raw"))
    for s in session["sets"]:  # every row, every note whole, in order
        assert re.search(rf"(?:^| ){s['n']} {s['started_at'][11:19]} ", text), s["n"]
    assert text.count(LONG_NOTE) == sum(1 for s in session["sets"] if s["note"] == LONG_NOTE)
    starts = [text.index(f" {s['started_at'][11:19]} ") for s in session["sets"]]
    assert starts == sorted(starts)
    assert text.count("Sets (continued)".upper()) == pages - 1
    for p in range(1, pages + 1):
        assert f"Page {p} of {pages}" in text
    assert_inside_margins(long)


def test_a_note_longer_than_a_page_continues_on_the_next(qapp, tmp_path):
    """bls stores at most 1000 characters a note, but a damaged or hand-edited record may hold more: the
    report carries it over as many pages as it needs, every word in order, nothing past the margins."""
    session = make_session(3)
    words = [f"w{i:04d}" for i in range(1800)]
    session["sets"][1]["note"] = " ".join(words)
    session["targets"][0]["image"] = " ".join(f"i{i:04d}" for i in range(1200))
    path = tmp_path / "long-note.pdf"
    pages = report.write_pdf(session, path)
    assert pages >= 3
    text = flat(pdftotext(path, "-raw"))
    found = re.findall(r"\bw\d{4}\b", text)
    assert found == words
    assert re.findall(r"\bi\d{4}\b", text) == [f"i{i:04d}" for i in range(1200)]
    assert_inside_margins(path)


def assert_inside_margins(path: Path) -> None:
    """Every word lies inside the page's side margins; below the footer rule there is the footer and
    nothing else (no row ran into it)."""
    html = pdftotext(path, "-bbox")
    mm = 72 / 25.4
    footer = re.compile(rf"{re.escape(flat(report.DELIVERED_NOTE))} Generated by bls \S+ on [\d-]+ at [\d:]+ "
                        r"Page (\d+) of (\d+)")
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S)
    assert pages
    for i, (width, height, body) in enumerate(pages, 1):
        words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                           body)
        below = []
        for x0, y0, x1, y1, word in words:
            x0, y0, x1, y1 = map(float, (x0, y0, x1, y1))
            assert report.LEFT * mm - 1 <= x0 and x1 <= min(report.RIGHT * mm + 1, float(width)), word
            assert 0 < y0 and y1 < float(height) - 8 * mm, word
            if y1 > (report.BOTTOM + 1.0) * mm:
                below.append(word.replace("&apos;", "'"))
        m = footer.fullmatch(" ".join(below))
        assert m, f"page {i}: below the content: {' '.join(below)!r}"
        assert (int(m.group(1)), int(m.group(2))) == (i, len(pages))


def test_the_live_session_and_a_session_without_sets(qapp, tmp_path):
    live = make_session(3, live=True)
    path = tmp_path / "live.pdf"
    assert report.write_pdf(live, path) == pages_in(path)
    text = flat(pdftotext(path, "-raw"))
    assert "in progress" in text and "C-017" in text
    empty = dict(make_session(0), targets=[], medicine=[], client_code=None)
    path2 = tmp_path / "empty.pdf"
    assert report.write_pdf(empty, path2) == 1
    text2 = flat(pdftotext(path2, "-raw"))
    assert "No set was run in this session." in text2
    assert "No target was recorded for this session." in text2
    assert "No SUD or VOC was entered in this session." in text2
    assert "Client —" in text2


def test_refuses_a_link_and_a_folder_and_touches_neither(qapp, tmp_path):
    real = tmp_path / "real.pdf"
    real.write_bytes(b"someone else's")
    link = tmp_path / "report.pdf"
    link.symlink_to(real)
    with pytest.raises(WriteRefused):
        report.write_pdf(make_session(2), link)
    assert link.is_symlink() and real.read_bytes() == b"someone else's"
    (tmp_path / "folder").mkdir()
    with pytest.raises(WriteRefused):
        report.write_pdf(make_session(2), tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "real.pdf", "report.pdf"]


def test_replacing_a_readable_file_leaves_it_private(qapp, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    report.write_pdf(make_session(2), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_bytes().startswith(b"%PDF-")


def test_without_a_display_or_an_application_it_makes_its_own(tmp_path):
    """In a process with no Qt application and no display (a terminal, a cron job), write_pdf starts an
    offscreen one itself."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(Path(report.__file__).resolve().parents[2])
    out = tmp_path / "r.pdf"
    code = ("import sys, json; from bls.ui.report import write_pdf; "
            "s = json.loads(sys.argv[1]); print(write_pdf(s, sys.argv[2]))")
    import json

    proc = subprocess.run([sys.executable, "-c", code, json.dumps(make_session(2)), str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1" and out.read_bytes().startswith(b"%PDF-")
