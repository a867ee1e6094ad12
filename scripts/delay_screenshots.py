"""Screenshots of the audio-delay calibration: the Headphones tab while it runs (on a 1280x720 therapist
screen) and the client screen at the peak of a flash. The sound card is simulated (named so on screen):
the calibration needs one.

    python scripts/delay_screenshots.py [OUTDIR]    (default /tmp/m)
"""
import json, os, sys, tempfile, time
from pathlib import Path
out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/m")
out.mkdir(parents=True, exist_ok=True)
cfg = Path(tempfile.mkdtemp()) / "screens.json"
screen = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
cfg.write_text(json.dumps({"screens": [
    {"name": "THERAPIST", "x": 0, "y": 0, "width": 1280, "height": 720, **screen},
    {"name": "CLIENT", "x": 1280, "y": 0, "width": 1920, "height": 1080, **screen}], "windowFrameMargins": False}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
os.environ["BLS_CONFIG_DIR"] = tempfile.mkdtemp()
os.environ["BLS_DATA_DIR"] = tempfile.mkdtemp()
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
import bls.session.clocks as clocks
from bls.audio.output import AudioStatus, MonotonicClock

NAME = "Bluetooth headphones (simulated)"
class FakeCard(MonotonicClock):
    is_device = True
    name = device_name = NAME
def fake_open_clock(engine, want_audio, device=None, refresh=False):
    c = FakeCard(engine); engine.owner = c.token; c.start()
    return c, AudioStatus(True, f"Audio: {NAME}", "output latency 80 ms", NAME)
clocks.open_clock = fake_open_clock
from bls.app import BlsApp
from bls.ui.style import apply_style
from bls.ui.audio_delay import AudioDelaySection
qapp = QApplication([])
apply_style(qapp)
app = BlsApp(qapp, preset="standard", client_screen="CLIENT")
def wait(s):
    loop = QEventLoop(); QTimer.singleShot(int(s * 1000), loop.quit); loop.exec()
wait(0.5)
c = app.control
c.tabs.setCurrentWidget(c.headphones_page)
sec = c.headphones_page.findChildren(AudioDelaySection)[0]
sec.spin.setValue(180)
sec.calibrate_button.click()
wait(1.0)
core = app.session.core
cal = core.engine.calibration
print("control size", c.size().width(), c.size().height(), "screen", c.screen().geometry())
c.grab().save(str(out / "delay-calibration.png"))
# the client screen at the peak of a flash: wait until the display is at an event (by the anchor map)
from bls.core.look import relative_luminance
best = 0.0
for _ in range(20000):
    qapp.processEvents(); time.sleep(0.0005)
    smp = app.display.core.last_sample
    if smp is None: continue
    lum = relative_luminance(smp.look.target)
    if lum > 0.98 and smp.frame > cal.start + 2 * 48000:
        img = app.display.screen().grabWindow(app.display.winId())
        img.save(str(out / "delay-client-flash.png")); print("grabbed at lum", lum, smp); break
print("sample at grab", core.sample_at(time.monotonic()))
app.shutdown()
