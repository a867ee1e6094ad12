import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QTimer

from bls.ui.style import apply_style


@pytest.fixture
def bls_app(qapp):
    """A BlsApp on the two named offscreen screens, without sound (the system clock runs it)."""
    from bls.app import BlsApp

    apply_style(qapp)
    app = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)
    yield app
    app.shutdown()
    app.control.deleteLater()
    app.display.deleteLater()
    qapp.processEvents()


@pytest.fixture(autouse=True)
def delete_closed_windows(qapp):
    """Really delete the windows a test closed, so later apps don't re-style dead widgets."""
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def wait_ms(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
