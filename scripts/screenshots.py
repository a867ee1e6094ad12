"""Screenshots of both windows, as a user would see them, on two named offscreen screens.

    python scripts/screenshots.py OUTDIR [PRESET] [SECONDS_INTO_SET]

Writes OUTDIR/control.png and OUTDIR/client.png. Used to look at the UI after a change.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
preset = sys.argv[2] if len(sys.argv) > 2 else "standard"
wait_s = float(sys.argv[3]) if len(sys.argv) > 3 else 2.3
out.mkdir(parents=True, exist_ok=True)
cfg = Path(tempfile.mkdtemp()) / "screens.json"
screen = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
cfg.write_text(json.dumps({"screens": [
    {"name": "THERAPIST", "x": 0, "y": 0, "width": 1920, "height": 1080, **screen},
    {"name": "CLIENT", "x": 1280, "y": 0, "width": 1920, "height": 1080, **screen}], "windowFrameMargins": False}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
os.environ.setdefault("BLS_CONFIG_DIR", tempfile.mkdtemp())
os.environ.setdefault("BLS_DATA_DIR", tempfile.mkdtemp())  # the screenshots session is not recorded with yours

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bls.app import BlsApp  # noqa: E402
from bls.ui.style import apply_style  # noqa: E402

qapp = QApplication([])
apply_style(qapp)
# the tone stays on, as in the preset (no_audio would untick it and mark the preset modified); this
# machine may have no sound card, so the status bar says so
app = BlsApp(qapp, preset=preset, client_screen="CLIENT", audio_device=os.environ.get("BLS_AUDIO_DEVICE"))
app.start_set()
loop = QEventLoop()
QTimer.singleShot(int(wait_s * 1000), loop.quit)
loop.exec()
app.control.grab().save(str(out / "control.png"))
screen_ = app.display.screen()
screen_.grabWindow(app.display.winId()).save(str(out / "client.png"))
print(f"wrote {out / 'control.png'} and {out / 'client.png'}")
app.shutdown()
