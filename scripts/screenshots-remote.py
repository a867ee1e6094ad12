"""Screenshots of the remote client through a relay, as the therapist and the client see them.

    python scripts/screenshots-remote.py OUTDIR

Starts a relay node (in this process, on loopback), the app offscreen (as scripts/screenshots.py), and
headless Chromium (/usr/bin/chromium, driven by Playwright) as the client. The app invites through the
relay, the page allows sound, a set starts; then it writes OUTDIR/remote-page.png (the client's browser
mid-set, 1280×720), OUTDIR/remote-panel.png (the control window on its Client display tab, the client
connected through the relay) and OUTDIR/relay-dialog.png (the dialog asking for the relay's address).
"""

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
out.mkdir(parents=True, exist_ok=True)
cfg = Path(tempfile.mkdtemp()) / "screens.json"
screen = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
cfg.write_text(json.dumps({"screens": [
    {"name": "THERAPIST", "x": 0, "y": 0, "width": 1920, "height": 1080, **screen},
    {"name": "CLIENT", "x": 1920, "y": 0, "width": 1920, "height": 1080, **screen}], "windowFrameMargins": False}))
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
os.environ.setdefault("BLS_CONFIG_DIR", tempfile.mkdtemp())
os.environ.setdefault("BLS_DATA_DIR", tempfile.mkdtemp())  # this session is not recorded with yours

from aiohttp import web  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bls.app import BlsApp  # noqa: E402
from bls.remote.relay import Relay, new_key  # noqa: E402
from bls.remote.saved import SavedRelay  # noqa: E402
from bls.ui.remote_panel import RelayDialog  # noqa: E402
from bls.ui.style import apply_style  # noqa: E402

KEY = new_key()
relay_loop = asyncio.new_event_loop()
relay_up = threading.Event()
relay_base = {}


async def _relay():
    runner = web.AppRunner(Relay([KEY], log=lambda _l: None).app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    relay_base["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def _relay_main():
    relay_loop.run_until_complete(_relay())
    relay_up.set()
    relay_loop.run_forever()


threading.Thread(target=_relay_main, daemon=True).start()
assert relay_up.wait(10), "the relay did not start"

qapp = QApplication([])
apply_style(qapp)
app = BlsApp(qapp, preset="standard", client_screen="CLIENT", audio_device=os.environ.get("BLS_AUDIO_DEVICE"))
app.control.tabs.setCurrentIndex(1)  # Client display
core = app.session.core
url = core.invite(relay=relay_base["url"], key=KEY)
page_state = {"ready": threading.Event(), "shot": threading.Event(), "running": threading.Event(), "error": None}


def client():
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)
            page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=15_000)
            page.click("#sound")
            page.wait_for_function("() => window.blsTest.state().sound", timeout=15_000)
            page_state["ready"].set()
            page.wait_for_function("() => window.blsTest.state().setState === 'running'", timeout=30_000)
            page.wait_for_function("() => window.blsTest.frames().length > 150", timeout=30_000)
            page.screenshot(path=str(out / "remote-page.png"))
            page_state["shot"].set()
            browser.close()
    except Exception as exc:  # noqa: BLE001 - said by the main thread
        page_state["error"] = exc
        page_state["ready"].set()
        page_state["shot"].set()


threading.Thread(target=client, daemon=True).start()


def spin_until(cond, seconds):
    deadline = time.monotonic() + seconds
    loop = QEventLoop()
    while not cond() and time.monotonic() < deadline:
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    if not cond():
        raise SystemExit(f"timed out ({page_state['error']})")


spin_until(page_state["ready"].is_set, 30)
app.start_set()
spin_until(page_state["shot"].is_set, 40)
spin_until(lambda: core.remote.get("rtt_ms") is not None and core.remote.get("sound"), 10)
if page_state["error"] is not None:
    raise SystemExit(f"the client's browser failed: {page_state['error']}")
app.control.grab().save(str(out / "remote-panel.png"))
saved = SavedRelay(Path(tempfile.mkdtemp()) / "relay.json")
saved.remember("https://relay.example.org", KEY)
dialog = RelayDialog(app.control.remote_panel, core, saved)
dialog.show()
spin_until(dialog.isVisible, 5)
dialog.grab().save(str(out / "relay-dialog.png"))
dialog.close()
print(f"wrote {out / 'remote-page.png'}, {out / 'remote-panel.png'} and {out / 'relay-dialog.png'}")
app.shutdown()
