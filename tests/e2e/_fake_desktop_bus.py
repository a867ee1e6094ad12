"""Run in a subprocess by test_screen_sleep_dbus.py: a fake desktop service on $DBUS_SESSION_BUS_ADDRESS.

    python _fake_desktop_bus.py KIND LOG

KIND is ``screensaver`` (org.freedesktop.ScreenSaver), ``gnome`` (org.gnome.SessionManager) or
``refuse`` (an org.freedesktop.ScreenSaver that answers with a D-Bus error). Each call is
appended to LOG as one JSON line; the line ``{"ready": true}`` comes once the name is owned. The slots'
Qt types give the D-Bus signatures of the real services (``u`` is uint), and QtDBus dispatches on the
exact signature, as the real services do: a call with an ``i`` where a ``u`` belongs is not delivered.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QCoreApplication, QObject, Slot
from PySide6.QtDBus import QDBusConnection, QDBusVirtualObject

COOKIE = 4_000_000_001  # above 2**31: a cookie squeezed through a signed int would not survive


def record(log_path: str, **entry) -> None:
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


class Recorder(QObject):
    def __init__(self, log_path: str):
        super().__init__()
        self._log_path = log_path

    def record(self, **entry) -> None:
        record(self._log_path, **entry)


class ScreenSaver(Recorder):
    @Slot(str, str, result="uint")
    def Inhibit(self, application, reason):  # noqa: N802 (D-Bus method names)
        self.record(call="Inhibit", args=[application, reason], cookie=COOKIE)
        return COOKIE

    @Slot("uint")
    def UnInhibit(self, cookie):  # noqa: N802
        self.record(call="UnInhibit", args=[cookie])


class RefusingScreenSaver(QDBusVirtualObject):
    """Answers every org.freedesktop.ScreenSaver call with an error (a slot cannot: PySide6 crashes in
    QDBusContext.sendErrorReply)."""

    INTROSPECTION = (
        '<interface name="org.freedesktop.ScreenSaver">'
        '<method name="Inhibit"><arg type="s" direction="in"/><arg type="s" direction="in"/>'
        '<arg type="u" direction="out"/></method>'
        '<method name="UnInhibit"><arg type="u" direction="in"/></method>'
        '</interface>')

    def __init__(self, log_path: str):
        super().__init__()
        self._log_path = log_path

    def introspect(self, path):
        return self.INTROSPECTION

    def handleMessage(self, message, connection):  # noqa: N802
        if message.interface() != "org.freedesktop.ScreenSaver":
            return False
        record(self._log_path, call=message.member(), args=message.arguments(), refused=True)
        connection.send(message.createErrorReply("org.example.Refused", "inhibiting is switched off"))
        return True


class GnomeSessionManager(Recorder):
    @Slot(str, "uint", str, "uint", result="uint")
    def Inhibit(self, app_id, toplevel_xid, reason, flags):  # noqa: N802
        self.record(call="Inhibit", args=[app_id, toplevel_xid, reason, flags], cookie=COOKIE)
        return COOKIE

    @Slot("uint")
    def Uninhibit(self, cookie):  # noqa: N802
        self.record(call="Uninhibit", args=[cookie])


SERVICES = {
    "screensaver": ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", ScreenSaver),
    "refuse": ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", RefusingScreenSaver),
    "gnome": ("org.gnome.SessionManager", "/org/gnome/SessionManager", GnomeSessionManager),
}


def main(kind: str, log_path: str) -> int:
    app = QCoreApplication([])
    name, path, cls = SERVICES[kind]
    service = cls(log_path)
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        print(f"no session bus: {bus.lastError().message()}", file=sys.stderr)
        return 2
    if isinstance(service, QDBusVirtualObject):
        registered = bus.registerVirtualObject(path, service)
    else:
        registered = bus.registerObject(path, name, service, QDBusConnection.ExportAllSlots)
    if not registered:
        print(f"could not register {path}", file=sys.stderr)
        return 2
    if not bus.registerService(name):
        print(f"could not own {name}: {bus.lastError().message()}", file=sys.stderr)
        return 2
    record(log_path, ready=True)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
