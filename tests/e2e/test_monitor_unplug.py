"""The client's monitor unplugged mid-set and plugged back, on a real X server with two monitors.

Qt's offscreen platform cannot remove a screen at run time; Xorg's dummy driver can: two RandR outputs,
DUMMY0 (1280×720, the therapist's) and DUMMY1 (1920×1080 to its right, the client's), and
``xrandr --output DUMMY1 --off`` unplugs the client's monitor as a cable pulled out would (Qt sees
screenRemoved). The app runs as the user runs it (``python -m bls``, xcb, a window manager); the test
reads where its windows are (xwininfo), what is on the screen (a screenshot) and the session record.

Needs Xorg with the dummy driver, openbox, xrandr, xdotool, xwininfo, xprop and ImageMagick's
``import`` (`.ci/run` installs them); skips when they are missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from bls.bench import xdesk
from bls.bench.xdesk import CLIENT, THERAPIST

from .conftest import REPO, base_env, bls_command

pytestmark = pytest.mark.e2e

# xdotool matches titles as regular expressions, against WM_NAME ("Client display") as well as the title the
# desktop shows (_NET_WM_NAME: "Client display — bls — bilateral stimulation")
CLIENT_TITLE = "^Client display"
CONTROL_TITLE = "^bls — bilateral stimulation"
BACKGROUND = (0x1D, 0x21, 0x26)  # the standard preset's client background, #1d2126
TOOLS = ("Xorg", "openbox", "xrandr", "xdotool", "xwininfo", "xprop", "import")


def wait_for(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what``."""
    try:
        return xdesk.wait_for(condition, timeout, what)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


_stop = xdesk.stop_process


class Desk(xdesk.XDesk):
    """The X server with the therapist's and the client's monitors (``bls.bench.xdesk``), and what this
    test reads from it: windows and pixels."""

    def __init__(self, n: int, tmp: Path):
        super().__init__(n, tmp, base_env())
        self.tmp = tmp

    def window(self, title: str) -> dict | None:
        """The one mapped top-level window whose name contains ``title``: its id, x, y, width, height
        (of its contents, in root coordinates), or None while there is none."""
        ids = self.x("xdotool", "search", "--name", title, check=False).split()
        found = []
        for wid in ids:
            info = self.x("xwininfo", "-id", wid, check=False)
            if "IsViewable" not in info:
                continue
            num = {k: int(v) for k, v in re.findall(r"(Absolute upper-left [XY]|Width|Height):\s+(-?\d+)", info)}
            found.append({"id": wid, "x": num["Absolute upper-left X"], "y": num["Absolute upper-left Y"],
                          "width": num["Width"], "height": num["Height"]})
        assert len(found) <= 1, f"more than one window named {title!r}: {found}"
        return found[0] if found else None

    def shown_fraction(self, win: dict, row: int = 10) -> float:
        """Share of the pixels of one row of ``win`` (``row`` px from its top, clear of the target) that
        show the client background on the screen: 1.0 when nothing covers the window."""
        x, y, w = max(win["x"], 0), win["y"] + row, win["width"]
        raw = subprocess.run(["import", "-silent", "-window", "root", "-crop", f"{w}x1+{x}+{y}", "-depth", "8",
                              "rgb:-"], env=self.env, capture_output=True, timeout=20).stdout
        px = [raw[i:i + 3] for i in range(0, len(raw) - 2, 3)]
        near = sum(all(abs(c - b) <= 8 for c, b in zip(p, BACKGROUND)) for p in px)
        return near / max(1, w)

    def screenshot(self, name: str) -> None:
        """Kept beside the test's files for a look when it fails."""
        subprocess.run(["import", "-silent", "-window", "root", str(self.tmp / f"{name}.png")], env=self.env,
                       capture_output=True, timeout=20)


@pytest.fixture
def desk(tmp_path, private_config_dir):  # private_config_dir: set in the environment first
    """Xorg (dummy driver) on a free display with DUMMY0 1280×720 and DUMMY1 1920×1080 to its right,
    openbox managing the windows. Everything started here is ended here."""
    why = xdesk.missing(TOOLS)
    if why:
        pytest.skip(why.replace("x11-utils)", "xdotool x11-utils imagemagick)"))
    n = xdesk.free_display()
    if n is None:
        pytest.skip("no free X display number between :95 and :199")
    desk = Desk(n, tmp_path)
    try:
        desk.start()
    except xdesk.Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield desk
    finally:
        desk.stop()


def _record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet


def _screen_changes(path: Path) -> list[dict]:
    doc = _record(path) or {}
    return [e for e in doc.get("events", []) if e.get("kind") == "screen_change"]


def _inside(win: dict, screen: tuple[int, int, int, int]) -> bool:
    x, y, w, h = screen
    return (win["width"] > 0 and win["height"] > 0 and win["x"] >= x and win["y"] >= y
            and win["x"] + win["width"] <= x + w and win["y"] + win["height"] <= y + h)


def _fullscreen_on_client(win: dict | None) -> bool:
    return win is not None and (win["x"], win["y"], win["width"], win["height"]) == CLIENT


def test_client_monitor_unplugged_mid_set_and_plugged_back(desk, tmp_path):
    log = tmp_path / "record.json"
    app_err = tmp_path / "app.err"
    app = None
    try:
        with open(app_err, "w") as err:
            app = subprocess.Popen([*bls_command(), "--preset", "standard", "--client-screen", "DUMMY1", "--start",
                                    "--log", str(log), "--exit-after", "50"], env=desk.env, cwd=REPO,
                                   stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)

        # start: the client display fullscreen on DUMMY1, in full view; the set runs (24 passes, ~13 s)
        client = wait_for(lambda: (w := desk.window(CLIENT_TITLE)) and _fullscreen_on_client(w) and w, 20,
                          "the client display fullscreen on DUMMY1")
        control = wait_for(lambda: desk.window(CONTROL_TITLE), 10, "the control window")
        assert _inside(control, THERAPIST), control
        wait_for(lambda: desk.shown_fraction(client) > 0.95, 10, "the client display drawn, in full view")
        time.sleep(1.5)  # a few passes before the cable is pulled (the record says whether it was mid-set)
        assert app.poll() is None, app_err.read_text()

        # unplugged: the set pauses, the event is recorded, the client display waits on the therapist's
        # screen as a window, inside it and not hidden behind the control window
        desk.unplug_client()
        assert desk.monitors() == {"DUMMY0": THERAPIST}
        lost = wait_for(lambda: _screen_changes(log), 10, "a screen_change event in the record")
        assert lost == [{"t_s": lost[0]["t_s"], "kind": "screen_change", "screen": "DUMMY1", "connected": False,
                         "paused_set": True}], lost
        client = wait_for(lambda: (w := desk.window(CLIENT_TITLE)) and _inside(w, THERAPIST) and w, 10,
                          "the client display inside the 1280×720 screen that is left")
        assert (client["width"], client["height"]) != CLIENT[2:]  # a window now, not a fullscreen one
        # drawn, and at least a third of it in view (the control window had hidden all but a 20 px strip)
        try:
            wait_for(lambda: desk.shown_fraction(client) > 1 / 3, 10,
                     "the client window in view on the therapist's screen (see 1-unplugged.png)")
        finally:
            desk.screenshot("1-unplugged")
        time.sleep(2.0)  # the cable stays out a while: the samples show whether the set stays paused

        # plugged back: fullscreen on DUMMY1 again; the set waits for the therapist
        desk.plug_client()
        assert desk.monitors() == {"DUMMY0": THERAPIST, "DUMMY1": CLIENT}
        changes = wait_for(lambda: len(c := _screen_changes(log)) >= 2 and c, 10, "the second screen_change")
        assert [(e["screen"], e["connected"]) for e in changes] == [("DUMMY1", False), ("DUMMY1", True)], changes
        back_t = changes[1]["t_s"]
        client = wait_for(lambda: (w := desk.window(CLIENT_TITLE)) and _fullscreen_on_client(w) and w, 10,
                          "the client display fullscreen on DUMMY1 again")
        wait_for(lambda: desk.shown_fraction(client) > 0.95, 10, "the client display drawn on DUMMY1 again")
        desk.screenshot("2-replugged")
        control = desk.window(CONTROL_TITLE)
        assert control is not None and _inside(control, THERAPIST), control
        time.sleep(1.0)  # paused samples after the replug: nothing resumes but the therapist

        # Space on the control window resumes; the set then runs to its end and is recorded
        desk.x("xdotool", "key", "--window", control["id"], "space")
        doc = wait_for(lambda: (d := _record(log)) and d.get("sets") and d, 30,
                       "the set to end (resumed by Space, it runs to its end)")
        # Ctrl+Q is a window shortcut: it needs the control window active (a key sent with --window is not)
        desk.x("xdotool", "windowactivate", "--sync", control["id"], "key", "ctrl+q")
        rc = app.wait(timeout=15)
        out = app_err.read_text(errors="replace")
        assert rc == 0 and "Traceback" not in out, out
        assert not [ln for ln in out.splitlines() if ln.startswith(("qt.", "QXcb", "QWindow", "QWidget"))], out

        (entry,) = doc["sets"]
        assert entry["client_screen"] == "DUMMY1"
        assert entry["stop_reason"] == "complete" and entry["passes_delivered"] == 24, entry
        samples = entry["samples"]
        lost_t = lost[0]["t_s"]
        before = [s for s in samples if s["t_s"] < lost_t]
        assert before and before[-1]["state"] == "running" and before[-1]["speed_cycles_per_s"] > 0.5, before[-3:]
        # from the unplug to the replug and on, until Space: paused; still after the fade (~0.8 s)
        held = [s for s in samples if lost_t <= s["t_s"] <= back_t + 1.0]
        assert len(held) >= 4 and all(s["state"] == "paused" for s in held), held
        still = [s for s in held if s["t_s"] >= lost_t + 1.5]
        assert len(still) >= 4 and all(s["speed_cycles_per_s"] == 0 for s in still), held
        after = [s for s in samples if s["t_s"] > back_t + 1.0]
        resumed = [s for s in after if s["state"] == "running" and s["speed_cycles_per_s"] > 0.5]
        assert resumed, after[:5]  # Space: running again, at speed
    finally:
        _stop(app)
