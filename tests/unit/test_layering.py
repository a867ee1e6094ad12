"""Layering: bls.core is pure Python + numpy (+ yaml). It never imports Qt, sounddevice, or the
layers above it, so it is testable without a display or a sound card (ARCHITECTURE.md)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import bls.core

FORBIDDEN = ["PySide6", "shiboken6", "sounddevice", "_sounddevice", "bls.ui", "bls.audio", "bls.app",
             "bls.session", "bls.cli"]

PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    import bls.core
    mods = sorted(m.name for m in pkgutil.walk_packages(bls.core.__path__, "bls.core."))
    for m in mods:
        importlib.import_module(m)
    forbidden = {forbidden!r}
    loaded = sorted(n for n in sys.modules if any(n == f or n.startswith(f + ".") for f in forbidden))
    print(json.dumps({{"modules": mods, "loaded": loaded}}))
""")


def run_probe(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(bls.core.__file__).parents[2]))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_imports_no_qt_no_sounddevice_no_upper_layer():
    result = run_probe(PROBE.format(forbidden=FORBIDDEN))
    # every module on disk was imported (a new core module is covered without editing this test)
    on_disk = {p.stem for p in Path(bls.core.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert {m.rsplit(".", 1)[-1] for m in result["modules"]} == on_disk
    assert {"engine", "clock", "preset", "render", "timing", "tone", "motion", "ramp", "paths"} <= on_disk
    assert result["loaded"] == []


def test_the_probe_does_see_a_forbidden_import():
    # the same probe, after importing an upper layer on purpose, must report it: the check is live
    code = "import bls.session\n" + PROBE.format(forbidden=FORBIDDEN)
    result = run_probe(code)
    assert "PySide6" in result["loaded"] and "bls.session" in result["loaded"]
