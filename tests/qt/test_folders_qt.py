"""bls's folders are where Qt's QStandardPaths puts an application's (on the system the tests run on:
the XDG folders here), so settings and records sit where the system's other applications keep theirs."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QCoreApplication, QStandardPaths

from bls.core import paths


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="Windows: bls keeps records in the local AppData "
                    "on purpose (Qt's AppDataLocation roams); macOS: settings in Application Support, where Apple "
                    "wants an app's own files (Qt's AppConfigLocation is Preferences, NSUserDefaults' plists): "
                    "both in tests/unit/test_platform_folders.py")
def test_the_folders_are_qt_standard_paths_for_an_application_named_bls(qapp, monkeypatch, tmp_path):
    monkeypatch.delenv("BLS_CONFIG_DIR", raising=False)
    monkeypatch.delenv("BLS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    name, org = QCoreApplication.applicationName(), QCoreApplication.organizationName()
    QCoreApplication.setApplicationName("bls")  # as the app does (bls/app.py)
    QCoreApplication.setOrganizationName("")
    try:
        qt_config = QStandardPaths.writableLocation(QStandardPaths.AppConfigLocation)
        qt_data = QStandardPaths.writableLocation(QStandardPaths.AppLocalDataLocation)
    finally:
        QCoreApplication.setApplicationName(name)
        QCoreApplication.setOrganizationName(org)
    assert str(paths.config_dir()) == qt_config
    assert str(paths.data_dir()) == qt_data
