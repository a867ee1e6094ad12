"""The "Invite remote client" section of the Client display tab: the link for a client's browser (a
copy button), and what the client reports, live: connected or not, round-trip time, sound playing,
its screen, its A/V offset and dropped frames. The client connects to this computer (on this
computer, or the local network) or, over the internet, both connect out to a ``bls relay`` (its
address and key asked in :class:`RelayDialog`, remembered if the therapist wants). The session core
does the work (``invite``, ``uninvite``, ``remote``); this widget only shows it."""

from __future__ import annotations

import io
import socket
import threading

from PySide6.QtCore import QEventLoop, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..remote.saved import SavedRelay
from .clinical_dialogs import said
from .clinical_widgets import ElidedLabel

LOOPBACK = "127.0.0.1"


def lan_address() -> str | None:
    """This computer's address on the local network (None: none found). A UDP socket 'connected' to a
    documentation address picks the outgoing interface; nothing is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def qr_png(text: str, scale: int = 5) -> bytes | None:
    """``text`` as a QR code (PNG bytes), black on white with its quiet zone; None without segno."""
    try:
        import segno  # noqa: PLC0415 - optional
    except ImportError:
        return None
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=4, dark="#000000", light="#ffffff")
    return buf.getvalue()


def describe(remote: dict) -> str:
    """What the client reports, in full (the line's tooltip), from :attr:`SessionCore.remote`."""
    if not remote.get("invited"):
        return "Not invited."
    relay = remote.get("relay")
    if relay and relay != "connected":
        return f"The relay is not reachable ({relay}): the client's page plays on from what it has."
    if not remote.get("connected"):
        return "Link ready: waiting for the client to open it."
    parts = ["Connected" + (" through the relay" if relay else "")]
    rtt = remote.get("rtt_ms")
    parts.append(f"round trip {rtt:.0f} ms" if rtt is not None else "round trip …")
    parts.append("sound playing" if remote.get("sound") else "sound not playing yet")
    screen = remote.get("screen")
    if screen:
        parts.append(f"screen {screen[0]:.0f}×{screen[1]:.0f}")
    av = remote.get("av_offset_ms")
    if av is not None:
        parts.append(f"A/V {av:+.0f} ms")
    parts.append(f"{remote.get('dropped_frames', 0)} dropped frames")
    lead = remote.get("lead_ms")
    if lead is not None:
        parts.append(f"plays {lead:.0f} ms behind this computer")
    return " · ".join(parts)


def brief(remote: dict) -> str:
    """The same in the few words the line has room for (the tooltip has it all)."""
    if not remote.get("invited") or not remote.get("connected") or (
            remote.get("relay") and remote.get("relay") != "connected"):
        return describe(remote)
    rtt = remote.get("rtt_ms")
    parts = ["Connected", f"{rtt:.0f} ms" if rtt is not None else "… ms",
             "sound on" if remote.get("sound") else "no sound yet"]
    dropped = remote.get("dropped_frames", 0)
    if dropped:
        parts.append(f"{dropped} dropped")
    return " · ".join(parts)


class RemotePanel(QWidget):
    """One line (the Client display tab must still fit a 1280×720 screen): the invite button (a menu:
    this computer or the local network), the state (the link while the client has not opened it; the
    full link always on hover), and Copy link."""

    message = Signal(str)  # for the status bar

    def __init__(self, core, parent: QWidget | None = None):
        super().__init__(parent)
        self.core = core
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.addresses = [("On this computer only", LOOPBACK)]
        lan = lan_address()
        if lan:
            self.addresses.append((f"On the local network ({lan})", lan))
        self.invite_menu = QMenu(self)
        for label, host in self.addresses:
            self.invite_menu.addAction(label, lambda host=host: self.invite(host))
        self.invite_menu.addAction("Over the internet, through a relay…", self.invite_through_relay)
        self.relay_dialog: RelayDialog | None = None
        self.invite_button = QPushButton("Invite remote client")
        self.invite_button.setFocusPolicy(Qt.NoFocus)
        self.invite_button.setToolTip("A link for the client's browser: it plays the set itself (the target and "
                                      "the tone), and works while this session runs")
        self.invite_button.clicked.connect(self._clicked)
        row.addWidget(self.invite_button)
        self.state = ElidedLabel(brief(core.remote))
        self.state.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row.addWidget(self.state, 1)
        self.copy_button = QPushButton("Copy link")
        self.copy_button.setFocusPolicy(Qt.NoFocus)
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._copy)
        row.addWidget(self.copy_button)
        self.qr_button = QPushButton("QR")
        self.qr_button.setFocusPolicy(Qt.NoFocus)
        self.qr_button.setToolTip("The link as a QR code, for a phone or a tablet")
        self.qr_button.setEnabled(False)
        self.qr_button.setVisible(qr_png("x") is not None)  # segno missing: no QR code, the link still works
        self.qr_button.clicked.connect(self.show_qr)
        row.addWidget(self.qr_button)
        self.qr_popup: QLabel | None = None
        self.url = ""
        core.remote_changed.connect(self.show_remote)

    def _clicked(self) -> None:
        if self.core.remote.get("invited"):
            self.core.uninvite()
        else:
            self.invite_menu.popup(self.invite_button.mapToGlobal(self.invite_button.rect().bottomLeft()))

    def invite(self, host: str) -> None:
        try:
            url = self.core.invite(host, 0)
        except OSError as exc:
            self.message.emit(f"The remote client could not be invited: {exc}")
            return
        self.message.emit(f"Send the client this link: {url}")

    def invite_through_relay(self) -> None:
        self.relay_dialog = RelayDialog(self, self.core)
        if self.relay_dialog.exec() == QDialog.Accepted:
            self.message.emit(f"Send the client this link: {self.core.remote.get('url', '')}")

    def show_qr(self) -> None:
        png = qr_png(self.url) if self.url else None
        if png is None:
            return
        pix = QPixmap()
        pix.loadFromData(png, "PNG")
        self.qr_popup = QLabel(self, Qt.Popup)
        self.qr_popup.setPixmap(pix)
        self.qr_popup.setToolTip(self.url)
        self.qr_popup.adjustSize()
        self.qr_popup.move(self.qr_button.mapToGlobal(self.qr_button.rect().bottomLeft()))
        self.qr_popup.show()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.url)
        self.message.emit("The link is copied: send it to the client (it works while this session runs).")

    def show_remote(self, remote: dict) -> None:
        invited = bool(remote.get("invited"))
        self.url = remote.get("url", "") if invited else ""
        self.copy_button.setEnabled(invited)
        self.qr_button.setEnabled(invited)
        if not invited and self.qr_popup is not None:
            self.qr_popup.close()
        self.copy_button.setToolTip(self.url)
        self.invite_button.setText("End link" if invited else "Invite remote client")
        text = brief(remote)
        if invited and not remote.get("connected") and text == describe(remote) and "relay is not" not in text:
            text = f"Waiting for the client: {self.url}"
        self.state.setText(text)
        self.state.set_tip(f"{describe(remote)}\n{self.url}" if invited else "")


def _started(bridge) -> BaseException | None:
    """``bridge.start()``, on the invitation's thread; what it raised, or None."""
    try:
        bridge.start()
    except Exception as exc:  # noqa: BLE001 - handed to the dialog, which says it or raises it
        return exc
    return None


class RelayDialog(QDialog):
    """The relay's address and key (from whoever runs the practice's ``bls relay``); Invite connects
    out to it. What is wrong (an address that is not one, a key the relay does not know, a relay that
    does not answer) is said in the dialog, which stays open with what was typed."""

    def __init__(self, parent, core, saved: SavedRelay | None = None):
        super().__init__(parent)
        self.core = core
        self.saved = saved if saved is not None else SavedRelay()
        self.setWindowTitle("Invite through a relay")
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        intro = QLabel("For a client at home: this computer and the client's browser both connect to the "
                       "relay, so nothing needs opening on this network. Only the stimulus (its timing, "
                       "speed and sound settings) passes through it: no names, notes or scores.")
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        self.address = QLineEdit(self.saved.address)
        self.address.setPlaceholderText("https://relay.example.org")
        self.address.setMinimumWidth(360)
        self.key = QLineEdit(self.saved.key)
        self.key.setEchoMode(QLineEdit.Password)
        self.key.setPlaceholderText("the key the relay's operator gave you")
        form.addRow("Relay address", self.address)
        form.addRow("Key", self.key)
        lay.addLayout(form)
        self.remember = QCheckBox("Remember the address and key on this computer")
        self.remember.setChecked(bool(self.saved.address) or not self.saved.problem)
        lay.addWidget(self.remember)
        self.error = QLabel()
        self.error.setObjectName("notice")
        self.error.setWordWrap(True)
        self.error.setVisible(bool(self.saved.problem))
        self.error.setText(said(OSError(self.saved.problem)) if self.saved.problem else "")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.invite_button = buttons.addButton("Invite", QDialogButtonBox.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _connect(self, bridge):
        """Starts ``bridge`` (it waits for the relay's answer, up to about 6 s) on a thread of its own
        while this window's event loop runs on: the client's screen keeps moving during a set. Returns
        it started; raises what starting it raised."""
        done: list = []
        thread = threading.Thread(target=lambda: done.append(_started(bridge)), name="bls-relay-invite",
                                  daemon=True)
        self.invite_button.setEnabled(False)
        self._say("Connecting to the relay…")
        loop = QEventLoop(self)
        timer = QTimer(self)
        timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        timer.start(20)
        thread.start()
        loop.exec()
        timer.stop()
        self.invite_button.setEnabled(True)
        self.error.hide()
        (error,) = done
        if error is not None:
            raise error
        return bridge

    def _say(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def accept(self) -> None:
        address, key = self.address.text().strip(), self.key.text().strip()
        if not address or not key:
            self._say("Give the relay's address and your key (ask whoever runs the relay for them).")
            return
        try:
            self.core.adopt_remote(self._connect(self.core.remote_bridge(relay=address, key=key)))
        except (OSError, ValueError) as exc:
            self._say(f"The client could not be invited: {said(exc)}")
            return
        if self.remember.isChecked():
            try:
                self.saved.remember(address, key)
            except (OSError, ValueError) as exc:  # the link works; only remembering it failed
                self.parent().message.emit(f"The relay is not remembered: {said(exc)}")
        super().accept()
