"""The OpenGL client display on a real X server (Xvfb: Mesa's llvmpipe, which ignores the swap
interval): it notices that swaps do not wait for vsync, says so, paces its frames by a timer at the
refresh period and draws each for the moment it will be swapped (learned from measured swap times)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from .conftest import base_env

pytestmark = pytest.mark.e2e

CHILD = textwrap.dedent("""
    import json, statistics, time
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QGuiApplication, QOpenGLContext
    app = QGuiApplication([])
    ctx = QOpenGLContext()
    if not ctx.create():
        print(json.dumps({"no_gl": True})); raise SystemExit(0)
    from bls.core.engine import FrameSample
    from bls.core.look import look_of
    from bls.core.preset import Preset
    from bls.ui.client_display import DisplayCore, GLClientWindow

    LOOK = look_of(Preset(name="gl"))
    painted = []

    class Source:
        def sample_at(self, t):
            painted.append(t)
            return FrameSample(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, "running", LOOK)

    core = DisplayCore(Source(), 60.0)
    swaps = []
    w = GLClientWindow(core)
    w.frameSwapped.connect(lambda: swaps.append((time.monotonic(), w.vsync)))
    w.resize(640, 360)
    w.show()
    loop = QEventLoop()
    QTimer.singleShot(2500, loop.quit)
    loop.exec()
    paced = [b[0] - a[0] for a, b in zip(swaps, swaps[1:]) if a[1] is False and b[1] is False]
    unpaced = [b[0] - a[0] for a, b in zip(swaps, swaps[1:]) if a[1] is None and b[1] is None]
    print(json.dumps({"vsync": w.vsync, "kind": w.kind, "period": 1 / core.refresh_hz,
                      "paced_median": statistics.median(paced) if paced else None,
                      "unpaced_median": statistics.median(unpaced) if unpaced else None,
                      "paced": len(paced), "lead": core.lead_s, "painted": len(painted)}))
""")


def test_opengl_without_vsync_is_noticed_said_and_paced_by_the_refresh_period(tmp_path):
    if not shutil.which("xvfb-run"):
        pytest.skip("needs xvfb-run (apt: xvfb)")
    env = base_env()
    env.pop("QT_QPA_PLATFORM", None)
    env["QT_QPA_PLATFORM"] = "xcb"
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", sys.executable, "-c", CHILD],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    got = json.loads(lines[-1])
    if got.get("no_gl"):
        pytest.skip("no OpenGL context under Xvfb on this machine")
    if got["vsync"]:
        pytest.skip("this X server's GL waits for vsync: nothing to notice")
    assert got["vsync"] is False and got["kind"] == "OpenGL (no vsync: paced by a precise timer)", got
    # before it knew, frames swapped far faster than the refresh (that is how it knew) ...
    assert got["unpaced_median"] < 0.6 * got["period"], got
    # ... after, one frame per refresh period, as on a display that waits for vsync
    assert got["paced"] >= 30 and 0.8 * got["period"] < got["paced_median"] < 1.25 * got["period"], got
    assert 0.0 < got["lead"] < got["period"], got  # drawn for its swap: paint-to-swap time, learned
    assert got["painted"] >= got["paced"], got
