"""The control window's two looks (light, and dark for a dim room): every piece of text on every page
meets WCAG 2.1 AA contrast, measured on the rendered window; the choice is kept for the next launch
and follows the system when asked to."""

from __future__ import annotations

from collections import Counter

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton

from .conftest import wait_ms


def _linear(c: float) -> float:  # WCAG 2.1 relative luminance, per channel
    c /= 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (_linear(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _text_contrast(img, rect: QRect) -> float:
    """The contrast between the commonest colour in ``rect`` (the background) and the colour in it that
    differs from it most (the text's ink, at the middle of its strokes)."""
    pixels = [img.pixelColor(x, y).getRgb()[:3] for y in range(rect.top(), rect.bottom() + 1)
              for x in range(rect.left(), rect.right() + 1)]
    background = Counter(pixels).most_common(1)[0][0]
    return max(_contrast(background, p) for p in set(pixels))


def _large(widget) -> bool:  # WCAG: 18 pt, or 14 pt bold, needs 3:1 only
    f = widget.font()
    return f.pointSizeF() >= 18 or (f.pointSizeF() >= 14 and f.bold())


def _measure(window, qapp) -> list[tuple[str, float]]:
    """(what, contrast) for each visible, enabled piece of text in the window as it is drawn now."""
    qapp.processEvents()
    img = window.grab().toImage()
    found = []
    for w in [w for cls in (QLabel, QPushButton, QCheckBox) for w in window.findChildren(cls)]:
        if not (w.isVisible() and w.isEnabled() and w.text().strip()) or w.width() < 8 or w.height() < 8:
            continue
        top_left = w.mapTo(window, QPoint(0, 0))
        rect = QRect(top_left, w.size()).intersected(img.rect())
        if isinstance(w, QCheckBox):
            rect.setLeft(rect.left() + 22)  # the text, not the box
        elif isinstance(w, QPushButton):
            rect.adjust(3, 3, -3, -3)  # inside the border
        if rect.width() < 4 or rect.height() < 4:
            continue
        found.append((f"{type(w).__name__} {w.text()[:40]!r}", _text_contrast(img, rect), 3.0 if _large(w) else 4.5))
    return found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_on_every_page_meets_wcag_aa(qapp, private_config_dir, theme):
    from bls.app import BlsApp

    app = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True, theme=theme)
    try:
        c = app.control
        c.resize(1240, 680)
        wait_ms(50)
        seen, failing = 0, []
        for i in range(c.tabs.count()):
            c.tabs.setCurrentIndex(i)
            found = _measure(c, qapp)
            seen += len(found)
            failing += [(what, round(ratio, 2)) for what, ratio, need in found if ratio < need]
        assert seen > 40  # the measure saw the window's text, not an empty grab
        assert failing == []
    finally:
        app.shutdown()


def test_the_dark_look_is_dark_and_the_light_look_light(qapp, private_config_dir):
    from bls.app import BlsApp

    app = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True, theme="dark")
    try:
        c = app.control
        wait_ms(50)
        page = c.grab().toImage().pixelColor(4, 4).getRgb()[:3]
        assert _luminance(page) < 0.02  # a dim room: no bright surface behind the cards
        c.theme_combo.setCurrentIndex(c.theme_combo.findData("light"))
        c.theme_combo.activated.emit(c.theme_combo.currentIndex())
        wait_ms(50)
        assert _luminance(c.grab().toImage().pixelColor(4, 4).getRgb()[:3]) > 0.8
    finally:
        app.shutdown()
    again = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)  # remembered
    try:
        assert again.theme_choice == "light" and again.control.theme_combo.currentData() == "light"
    finally:
        again.shutdown()
