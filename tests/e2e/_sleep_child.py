"""Run in a subprocess by test_screen_sleep_dbus.py: the product's D-Bus sleep inhibitor on
$DBUS_SESSION_BUS_ADDRESS, in its own process so the test process's own bus connection is not involved.

    python _sleep_child.py REASON

Inhibits and prints one JSON line (``ok``, ``active``, ``how``); on the line ``release`` from stdin it
releases and prints another; exits at the end of stdin.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QCoreApplication

from bls.platform.screen_sleep import sleep_inhibitor


def report(inhibitor, **extra) -> None:
    print(json.dumps({"active": inhibitor.active, "how": inhibitor.how, **extra}), flush=True)


def main(reason: str) -> int:
    app = QCoreApplication([])  # noqa: F841 (QtDBus wants an application, as in bls)
    inhibitor = sleep_inhibitor("linux")
    report(inhibitor, ok=inhibitor.inhibit(reason))
    for line in sys.stdin:
        if line.strip() == "release":
            inhibitor.release()
            report(inhibitor)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
