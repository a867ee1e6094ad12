"""A real X server with two monitors and a window manager, for tools and tests that need a real display.

Xorg's dummy driver gives two RandR outputs: DUMMY0 (1280×720, the therapist's) and DUMMY1 (1920×1080
to its right, the client's), managed by openbox. Used by the outside instrument
(``scripts/external-sync``) and by ``tests/e2e/test_monitor_unplug.py``. No Qt here.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

THERAPIST = (0, 0, 1280, 720)  # DUMMY0
CLIENT = (1280, 0, 1920, 1080)  # DUMMY1, right of DUMMY0
TOOLS = ("Xorg", "openbox", "xrandr", "xprop")
DUMMY_DRIVER = "/usr/lib*/xorg/modules/drivers/dummy_drv.so"  # Debian/Ubuntu, Fedora/Arch layouts
DUMMY_DRIVER_MULTIARCH = "/usr/lib/*/xorg/modules/drivers/dummy_drv.so"

XORG_CONF = """\
Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "DontVTSwitch" "true"
EndSection
Section "Device"
  Identifier "dummy"
  Driver "dummy"
  VideoRam 256000
EndSection
Section "Monitor"
  Identifier "monitor"
  HorizSync 5-1000
  VertRefresh 5-1000
  Modeline "1920x1080" 148.50 1920 2008 2052 2200 1080 1084 1089 1125 +hsync +vsync
  Modeline "1280x720" 74.25 1280 1390 1430 1650 720 725 730 750 +hsync +vsync
EndSection
Section "Screen"
  Identifier "screen"
  Device "dummy"
  Monitor "monitor"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Virtual 3200 1080
  EndSubSection
EndSection
"""


class Unavailable(RuntimeError):
    """This machine cannot run the X server (a tool or the dummy driver is missing, or it failed)."""


def missing(tools=TOOLS) -> str | None:
    """Why the desk cannot be started here, or None."""
    gone = [t for t in tools if shutil.which(t) is None]
    if gone:
        return (f"needs {', '.join(gone)} (apt: xserver-xorg-core xserver-xorg-video-dummy openbox "
                "x11-xserver-utils x11-utils)")
    if not (glob.glob(DUMMY_DRIVER) or glob.glob(DUMMY_DRIVER_MULTIARCH)):
        return "Xorg's dummy video driver is not installed (apt: xserver-xorg-video-dummy)"
    return None


def free_display(first: int = 95) -> int | None:
    for n in range(first, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    return None


def wait_for(condition, timeout: float, what: str, poll: float = 0.1):
    """Poll ``condition`` until it returns something truthy (returned); TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def stop_process(proc: subprocess.Popen | None) -> None:
    """End a process started in its own session, and everything it started: SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


class XDesk:
    """Xorg (dummy driver) on display ``:n`` with DUMMY0 and DUMMY1, openbox managing it."""

    def __init__(self, n: int, workdir: Path, env: dict[str, str] | None = None):
        self.n = n
        self.display = f":{n}"
        self.workdir = Path(workdir)
        self.env = dict(os.environ if env is None else env, DISPLAY=self.display, QT_QPA_PLATFORM="xcb")
        self.env.pop("XAUTHORITY", None)
        self.xorg: subprocess.Popen | None = None
        self.openbox: subprocess.Popen | None = None

    def x(self, *cmd: str, check: bool = True) -> str:
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=20)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def monitors(self) -> dict[str, tuple[int, int, int, int]]:
        """RandR monitors: name -> (x, y, width, height)."""
        found = {}
        for m in re.finditer(r"(\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)\s+(\S+)\s*$", self.x("xrandr", "--listmonitors"),
                             re.M):
            w, h, x, y, name = m.groups()
            found[name] = (int(x), int(y), int(w), int(h))
        return found

    def plug_client(self) -> None:
        self.x("xrandr", "--output", "DUMMY1", "--mode", "1920x1080", "--right-of", "DUMMY0")

    def unplug_client(self) -> None:
        self.x("xrandr", "--output", "DUMMY1", "--off")

    def start(self) -> XDesk:
        """Start the server, set the two monitors, start openbox. Raises :class:`Unavailable` when the
        server does not come up; everything started is stopped again on any failure."""
        why = missing()
        if why:
            raise Unavailable(why)
        conf = self.workdir / "xorg.conf"
        conf.write_text(XORG_CONF)
        try:
            with open(self.workdir / "xorg.out", "w") as out:
                self.xorg = subprocess.Popen(["Xorg", self.display, "-config", str(conf), "-logfile",
                                              str(self.workdir / "Xorg.log"), "-noreset", "-nolisten", "tcp",
                                              "-novtswitch", "-sharevts"], stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)

            def up():
                if self.xorg.poll() is not None:
                    log = (self.workdir / "xorg.out").read_text(errors="replace").strip().splitlines()
                    raise Unavailable(f"Xorg (dummy driver) did not start on {self.display}: {' | '.join(log[-3:])}")
                return subprocess.run(["xrandr", "--listmonitors"], env=self.env, capture_output=True).returncode == 0
            wait_for(up, 20, f"Xorg on {self.display}")
            self.x("xrandr", "--output", "DUMMY0", "--mode", "1280x720")
            self.x("xrandr", "--addmode", "DUMMY1", "1920x1080")
            self.plug_client()
            mons = self.monitors()
            if mons != {"DUMMY0": THERAPIST, "DUMMY1": CLIENT}:
                raise Unavailable(f"unexpected monitors on {self.display}: {mons}")
            with open(self.workdir / "openbox.out", "w") as out:
                self.openbox = subprocess.Popen(["openbox"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
            wait_for(lambda: "window id #" in self.x("xprop", "-root", "_NET_SUPPORTING_WM_CHECK", check=False),
                     10, "openbox to manage the screen")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.openbox)
        stop_process(self.xorg)
