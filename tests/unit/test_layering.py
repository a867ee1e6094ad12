"""Layering: bls.core is pure Python + numpy (+ yaml). It never imports Qt, sounddevice, or the
layers above it, so it is testable without a display or a sound card (ARCHITECTURE.md)."""

import json
import os
import subprocess
import sys
import textwrap
import tomllib
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
    code = "import bls.ui.qt_session\n" + PROBE.format(forbidden=FORBIDDEN)
    result = run_probe(code)
    assert "PySide6" in result["loaded"] and "bls.session" in result["loaded"]


def test_the_session_core_runs_without_qt():
    # the session core, the record and bls script import no Qt (a front end brings its own)
    code = textwrap.dedent("""
        import json, sys
        import bls.session, bls.session.script, bls.session.clocks
        print(json.dumps({"loaded": sorted(n for n in sys.modules if n.split(".")[0] in ("PySide6", "shiboken6"))}))
    """)
    assert run_probe(code)["loaded"] == []


# --------------------------------------------------------------------------- the same layers, statically (import-linter)

ROOT = Path(bls.core.__file__).parents[2]
PYPROJECT = ROOT / "pyproject.toml"
#: contracts in pyproject.toml that must be kept
ENFORCED = ["core-pure", "audio-no-qt", "remote-qt-free", "session-qt-free"]

LINT = textwrap.dedent("""
    import sys
    from importlinter.cli import lint_imports
    sys.exit(lint_imports(config_filename=sys.argv[1], limit_to_contracts=tuple(sys.argv[2:]), no_cache=True,
                          no_logo=True))
""")


def lint(cwd: Path, config: Path, contracts: list[str]) -> subprocess.CompletedProcess:
    """import-linter in its own process, on the ``bls`` package found in ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COLUMNS")}
    env.update(PYTHONPATH=str(cwd), COLUMNS="400", NO_COLOR="1")  # one line per contract, no colour codes
    proc = subprocess.run([sys.executable, "-c", LINT, str(config), *contracts], capture_output=True, text=True,
                          timeout=300, cwd=str(cwd), env=env)
    if "Traceback" in proc.stderr + proc.stdout or "Contracts: " not in proc.stdout:
        raise RuntimeError(f"import-linter did not run:\n{proc.stdout}\n{proc.stderr}")  # not a broken contract
    return proc


def contracts_in(config: Path) -> dict[str, dict]:
    with open(config, "rb") as fh:
        return {c["id"]: c for c in tomllib.load(fh)["tool"]["importlinter"]["contracts"]}


def test_the_contracts_name_the_forbidden_layers():
    c = contracts_in(PYPROJECT)
    assert set(c) == set(ENFORCED)
    assert c["core-pure"]["source_modules"] == ["bls.core"]
    assert {"PySide6", "sounddevice", "bls.audio", "bls.ui", "bls.app", "bls.session"} <= set(
        c["core-pure"]["forbidden_modules"])
    assert c["audio-no-qt"]["source_modules"] == ["bls.audio"]
    assert {"PySide6", "bls.ui", "bls.app"} <= set(c["audio-no-qt"]["forbidden_modules"])
    assert c["session-qt-free"]["source_modules"] == ["bls.session"]
    assert {"PySide6", "bls.ui", "bls.app"} <= set(c["session-qt-free"]["forbidden_modules"])
    assert c["remote-qt-free"]["source_modules"] == ["bls.remote"]
    assert {"PySide6", "bls.ui", "bls.app", "sounddevice"} <= set(c["remote-qt-free"]["forbidden_modules"])


def test_import_linter_keeps_the_layer_contracts():
    proc = lint(ROOT, PYPROJECT, ENFORCED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(ENFORCED)} kept, 0 broken." in proc.stdout


def test_import_linter_reports_a_forbidden_import_in_each_layer(tmp_path):
    """The same contracts, on a small package laid out like bls with one forbidden import per layer:
    each contract is reported broken, naming the import (so the test above can fail)."""
    files = {
        "bls/__init__.py": "",
        "bls/core/__init__.py": "",
        "bls/core/fine.py": "import json\nimport numpy\n",
        "bls/core/slip.py": "def draw():\n    from PySide6 import QtGui  # lazily, still an import\n",
        "bls/core/reach.py": "from ..ui import panel\n",
        "bls/audio/__init__.py": "",
        "bls/audio/out.py": "import sounddevice\nfrom bls.app import run\n",
        "bls/ui/__init__.py": "", "bls/ui/panel.py": "import PySide6.QtWidgets\n",
        "bls/app.py": "run = None\n", "bls/cli.py": "",
        "bls/session/__init__.py": "", "bls/session/core.py": "from bls.ui import panel\n",
        "bls/remote/__init__.py": "", "bls/remote/server.py": "import PySide6.QtCore\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    config = tmp_path / "pyproject.toml"
    config.write_text(PYPROJECT.read_text(encoding="utf-8"), encoding="utf-8")  # the real contracts
    proc = lint(tmp_path, config, ENFORCED)
    assert proc.returncode == 1
    assert f"Contracts: 0 kept, {len(ENFORCED)} broken." in proc.stdout
    assert "bls.core.slip -> PySide6" in proc.stdout and "bls.core.reach -> bls.ui.panel" in proc.stdout
    assert "bls.audio.out -> bls.app" in proc.stdout and "bls.session.core -> bls.ui.panel" in proc.stdout
    assert "bls.remote.server -> PySide6" in proc.stdout
    assert "bls.core.fine" not in proc.stdout  # numpy and the standard library are allowed
    # and with the forbidden imports gone, the same contracts are kept
    for name in ("bls/core/slip.py", "bls/core/reach.py", "bls/session/core.py", "bls/remote/server.py"):
        (tmp_path / name).write_text("import math\n")
    (tmp_path / "bls/audio/out.py").write_text("import sounddevice\nfrom bls.core import fine\n")
    proc = lint(tmp_path, config, ENFORCED)
    assert proc.returncode == 0 and f"Contracts: {len(ENFORCED)} kept, 0 broken." in proc.stdout, proc.stdout
