"""A screenshot of the control window after a short gentle session recorded from the keyboard.

    python scripts/screenshot-session.py OUT.png [REPORT.pdf]

Three gentle sets of 3 passes on two named offscreen screens (the therapist's 1280x720), each followed
by its SUD, a VOC or a note typed as a therapist would; client C-017, a target, a medicine mark. Nothing
is written to your own records (a temporary data folder). Takes about a minute (the sets run in real time).
"""

import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "session-record.png")
cfg = Path(tempfile.mkdtemp()) / "screens.json"
screen = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
cfg.write_text(json.dumps({"screens": [
    {"name": "THERAPIST", "x": 0, "y": 0, "width": 1280, "height": 720, **screen},
    {"name": "CLIENT", "x": 1280, "y": 0, "width": 1920, "height": 1080, **screen}], "windowFrameMargins": False}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
os.environ["BLS_CONFIG_DIR"] = tempfile.mkdtemp()
os.environ["BLS_DATA_DIR"] = tempfile.mkdtemp()

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bls.app import BlsApp  # noqa: E402
from bls.ui.style import apply_style  # noqa: E402

qapp = QApplication([])
apply_style(qapp)
app = BlsApp(qapp, preset="gentle", client_screen="CLIENT", no_audio=True)
c, core = app.control, app.session.core
c.show()


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def keys(*names) -> None:
    for k in names:
        QTest.keyClick(QApplication.focusWidget() or c, k)


def run_set() -> None:
    n = len(core.clinical.sets)
    keys(Qt.Key_Space)
    while not (len(core.clinical.sets) == n + 1 and core.status.state == "idle"):
        if core.question is not None:  # "start before the rest is over?": yes, for the screenshot
            core.answer(True)
        wait(50)


c.passes_spin.setValue(3)
panel = c.session_panel
panel.client_edit.setText("C-017")
panel.commit_client()
core.set_target({"image": "the car, the sound of the brakes, the red light", "nc": "I am powerless",
                 "pc": "I survived; I can act", "sud": 8, "voc": 2, "emotions": "fear", "body": "chest"})
core.mark_medicine("sublingual", "as prescribed", core.wall() - dt.timedelta(minutes=23))
for sud, voc, note in ((7, None, "the sound is less sharp"), (5, 3, ""),
                       (4, None, "notices the seat belt, breathing slower")):
    run_set()
    keys(*[getattr(Qt, f"Key_{d}") for d in str(sud)])
    if voc:
        keys(Qt.Key_V, getattr(Qt, f"Key_{voc}"))
    if note:
        keys(Qt.Key_N)
        QTest.keyClicks(c.entry_strip.note_edit, note)
        QTest.keyClick(c.entry_strip.note_edit, Qt.Key_Return)
wait(300)
c.grab().save(str(out))
print(f"wrote {out}")
if len(sys.argv) > 2:  # the session's PDF report, as "Export this session…" writes it
    from bls.ui.report import write_pdf  # noqa: E402

    pages = write_pdf(core.clinical_document(), Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]} ({pages} pages)")
app.shutdown()
os._exit(0)
