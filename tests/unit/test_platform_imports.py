"""Every bls module imports on a system without the POSIX-only or the Windows-only modules: none of
them is imported at import time (the platform code reaches them when it runs, behind its interfaces)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


SYSTEM_ONLY = ("fcntl", "termios", "pwd", "grp", "resource", "tty", "pty",  # POSIX
               "msvcrt", "winreg", "winsound", "_winapi", "_overlapped")  # Windows

PROBE = textwrap.dedent("""
    import importlib, json, os, pkgutil, sys
    BLOCKED = set(sys.argv[1].split(","))
    class Absent:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[name]
    sys.meta_path.insert(0, Absent())
    import bls
    failed = []
    names = [m.name for m in pkgutil.walk_packages(bls.__path__, "bls.") if not m.name.endswith("__main__")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append([name, f"{exc.__class__.__name__}: {exc}"])
    print(json.dumps({"modules": len(names), "failed": failed}))
""")


def _probe(blocked) -> dict:
    import json
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(blocked)], capture_output=True, text=True,
                          timeout=180, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_module_imports_without_any_system_only_module():
    result = _probe(SYSTEM_ONLY)
    assert result["modules"] > 80  # the walk did reach the whole package
    assert result["failed"] == [], result["failed"]


def test_the_probe_does_catch_a_module_that_needs_one():
    """The same probe with a module bls does import at import time (json) blocked: it must say so."""
    result = _probe(("json",))
    assert any(name == "bls.core.preset" or "json" in why for name, why in result["failed"])
