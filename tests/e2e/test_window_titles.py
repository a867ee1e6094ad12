"""The window titles as the desktop shows them (Xvfb, xcb): "bls — bilateral stimulation" once on the
control window, not "bls — bilateral stimulation — bls" (Qt appends the application's display name to
a title that does not end with it)."""

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
    import json, subprocess
    from PySide6.QtWidgets import QApplication
    from bls.app import BlsApp, identify
    qapp = QApplication([])
    identify(qapp)
    app = BlsApp(qapp, preset="standard", no_audio=True)
    for _ in range(20):
        qapp.processEvents()
    def title(w):
        out = subprocess.run(["xprop", "-id", str(int(w.winId())), "_NET_WM_NAME"], capture_output=True, text=True)
        return out.stdout.split(" = ", 1)[1].strip().strip('"') if " = " in out.stdout else out.stdout + out.stderr
    print(json.dumps({"control": title(app.control), "client": title(app.display)}))
    app.shutdown()
""")


def test_the_control_window_says_bls_bilateral_stimulation_once():
    if not (shutil.which("xvfb-run") and shutil.which("xprop")):
        pytest.skip("needs xvfb-run and xprop (apt: xvfb x11-utils)")
    env = base_env(QT_QPA_PLATFORM="xcb")
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", sys.executable, "-c", CHILD],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    titles = json.loads(proc.stdout.strip().splitlines()[-1])
    assert titles["control"] == "bls — bilateral stimulation"
    assert titles["client"] == "Client display — bls — bilateral stimulation"
