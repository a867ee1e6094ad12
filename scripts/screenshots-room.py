"""Screenshots of the control window as a therapist sets up a room, offscreen, on named screens:

    python scripts/screenshots-room.py OUTDIR

Writes, for a 1280×720 and a 1920×1080 therapist screen, light and dark (control-THEME-WxH.png, a set
running); the left/right headphone check in its "right ear" part (headphone-check.png and the client
screen, headphone-check-client.png); the audio-delay calibration (delay-calibration.png, and the
client screen at the peak of a flash, delay-client-flash.png); the client screen's size and viewing
distance (geometry.png).

The sound goes to a real output: a private JACK server on the dummy driver (real-time pace, no sound
card) through PortAudio's JACK host API, when jackd is installed; otherwise the checks and the
calibration are refused (they need a sound card) and those screenshots are left out.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parent(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))))
    jack = None
    if shutil.which("jackd") and shutil.which("jack_wait"):
        sys.path.insert(0, str(REPO))
        from bls.bench.recorder import Jack  # noqa: PLC0415

        jack = Jack(Path(tempfile.mkdtemp()), name=f"bls-shots-{os.getpid()}",
                    args=["--no-realtime", "-d", "dummy", "-r", "48000", "-p", "1024"]).start()
        env.update(jack.vars, BLS_AUDIO_DEVICE="system")
    else:
        print("no jackd: the checks and the calibration need a sound card; those screenshots are left out")
    shots = [("control", theme, w, h) for theme in ("light", "dark") for w, h in ((1280, 720), (1920, 1080))]
    if jack is not None:
        shots += [("headphones", "light", 1280, 720), ("calibration", "light", 1280, 720)]
    shots.append(("geometry", "light", 1280, 720))
    try:
        for shot, theme, w, h in shots:
            proc = subprocess.run([sys.executable, __file__, "--child", str(out), shot, theme, str(w), str(h)],
                                  env=dict(env, BLS_CONFIG_DIR=tempfile.mkdtemp(), BLS_DATA_DIR=tempfile.mkdtemp()),
                                  capture_output=True, text=True, timeout=120)
            lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
            print(f"{shot} {theme} {w}x{h}: {'ok' if proc.returncode == 0 else 'failed'}"
                  + (f" ({lines[-1]})" if lines else ""))
            if proc.returncode != 0:
                print(proc.stderr[-2000:])
    finally:
        if jack is not None:
            jack.stop()
    return 0


def child(out: Path, shot: str, theme: str, w: int, h: int) -> int:
    cfg = Path(tempfile.mkdtemp()) / "screens.json"
    dpi = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    cfg.write_text(json.dumps({"screens": [
        {"name": "THERAPIST", "x": 0, "y": 0, "width": w, "height": h, **dpi},
        {"name": "CLIENT", "x": w, "y": 0, "width": 1920, "height": 1080, **dpi}], "windowFrameMargins": False}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
    from PySide6.QtCore import QEventLoop, QTimer  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from bls.app import BlsApp, identify  # noqa: PLC0415
    from bls.core.look import relative_luminance  # noqa: PLC0415
    from bls.ui.audio_delay import AudioDelaySection  # noqa: PLC0415

    qapp = QApplication([])
    identify(qapp)
    app = BlsApp(qapp, preset="standard", client_screen="CLIENT", theme=theme)
    c, core = app.control, app.session.core

    def wait_until(cond, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            qapp.processEvents()
            if cond():
                return True
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()
        return False

    def client_png(name: str) -> None:
        app.display.screen().grabWindow(app.display.winId()).save(str(out / name))

    wait_until(lambda: core.audio_status.ok or not core.settings.audio.enabled, 5)
    wait_until(lambda: False, 0.3)  # the window laid out as it is seen
    if shot == "control":
        app.start_set()
        wait_until(lambda: core.status.elapsed_s > 2.5, 10)
        c.grab().save(str(out / f"control-{theme}-{w}x{h}.png"))
    elif shot == "headphones":
        c.tabs.setCurrentWidget(c.headphones_page)
        c.headphones.left_right.on_client.setChecked(True)
        c.headphones.left_right.play_button.click()
        wait_until(lambda: c.headphones.left_right.phase_label.text().startswith("Right"), 10)
        wait_until(lambda: False, 0.4)
        c.grab().save(str(out / "headphone-check.png"))
        client_png("headphone-check-client.png")
    elif shot == "calibration":
        c.tabs.setCurrentWidget(c.headphones_page)
        section = c.headphones_page.findChildren(AudioDelaySection)[0]
        section.spin.setValue(180)
        section.calibrate_button.click()
        wait_until(lambda: core.calibrating, 5)
        wait_until(lambda: False, 1.0)
        c.grab().save(str(out / "delay-calibration.png"))
        # the client screen at the peak of a flash, as the display drew it
        peak = lambda: (s := app.display.core.last_sample) is not None and relative_luminance(s.look.target) > 0.97  # noqa: E731
        if wait_until(peak, 10):
            client_png("delay-client-flash.png")
    elif shot == "geometry":
        c.tabs.setCurrentIndex(1)
        wait_until(lambda: False, 0.3)
        c.grab().save(str(out / "geometry.png"))
    print(f"window {c.width()}×{c.height()}, audio: {core.audio_status.summary}")
    app.shutdown()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(child(Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])))
    sys.exit(parent(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")))
