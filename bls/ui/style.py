"""A calm, professional look: neutral greys, one muted teal accent, generous spacing.

Two themes: light, and dark for a dim therapy room; the choice follows the system unless the therapist
picks one. Text meets WCAG 2.1 AA contrast in both (4.5:1; tests/qt/test_themes.py measures it on
the rendered window).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

#: what the therapist can choose; "system" follows the desktop's light or dark setting
THEME_CHOICES = {"system": "Follow the system", "light": "Light", "dark": "Dim room (dark)"}


@dataclass(frozen=True)
class Theme:
    name: str
    accent: str  # the primary button and the sliders' filled part (white text on it)
    accent_line: str  # the accent where it marks (the selected tab, a chart's line)
    accent_hover: str
    ink: str  # text
    muted: str  # secondary text
    line: str  # borders
    page: str
    card: str
    sunken: str  # a quiet area inside a card (the entry strip, alternate table rows)
    warn: str  # a notice's text on the page or a card
    warn_bg: str
    warn_ink: str
    warn_line: str
    badge_bg: str
    badge_ink: str
    disabled: str
    handle: str
    handle_line: str
    frame: str  # the preview's frame
    control_line: str  # a check box's outline: 3:1 against the card (WCAG 1.4.11)


LIGHT = Theme(name="light", accent="#2f7f7a", accent_line="#2f7f7a", accent_hover="#286e6a", ink="#1f2933",
              muted="#5f6b76", line="#dde2e7", page="#f3f4f6", card="#ffffff", sunken="#f7f9fa", warn="#875c16",
              warn_bg="#fbf4e6", warn_ink="#6b4e1f", warn_line="#ead9b8", badge_bg="#efe6d6", badge_ink="#6b4e1f",
              disabled="#a9b1b8", handle="#ffffff", handle_line="#b8c0c7", frame="#c9d0d6", control_line="#8a949e")
#: dark for a dim room: no white surfaces, text a soft light grey, the same teal
DARK = Theme(name="dark", accent="#2f7f7a", accent_line="#5fb3ac", accent_hover="#37918b", ink="#d9dde1",
             muted="#9aa4ae", line="#353b42", page="#15181c", card="#1d2126", sunken="#22272d", warn="#dcae5c",
             warn_bg="#2e281d", warn_ink="#e6c68a", warn_line="#4a3f2a", badge_bg="#3a3122", badge_ink="#ead4a6",
             disabled="#5d6670", handle="#c9ced3", handle_line="#6b747d", frame="#4a525a", control_line="#7d8791")
THEMES = {"light": LIGHT, "dark": DARK}

_current = LIGHT
#: the tick in a checked box (white, on the accent)
CHECK = (Path(__file__).resolve().parent / "assets" / "check.svg").as_posix()


def current() -> Theme:
    """The theme the window is drawn in now (for what paints itself)."""
    return _current


def stylesheet(t: Theme) -> str:
    return f"""
QWidget {{ color: {t.ink}; font-size: 10pt; }}
QMainWindow, #page {{ background: {t.page}; }}
QFrame#card {{ background: {t.card}; border: 1px solid {t.line}; border-radius: 10px; }}
QLabel#cardTitle {{ font-size: 9pt; font-weight: 600; color: {t.muted}; letter-spacing: 0.5px; }}
QLabel#state {{ font-size: 20pt; font-weight: 600; }}
QLabel#bigCount {{ font-size: 26pt; font-weight: 600; }}
QLabel#bigTime {{ font-size: 26pt; font-weight: 300; color: {t.muted}; }}
QLabel#hint, QLabel#readout {{ color: {t.muted}; }}
QLabel#notice {{ color: {t.warn}; }}
QLabel#badge {{ background: {t.badge_bg}; color: {t.badge_ink}; border-radius: 9px; padding: 2px 10px; font-size: 9pt;
               font-weight: 700; letter-spacing: 1px; }}
QPushButton {{ background: {t.card}; color: {t.ink}; border: 1px solid {t.line}; border-radius: 8px; padding: 7px 14px; }}
QPushButton:hover {{ border-color: {t.accent_line}; }}
QPushButton:disabled {{ color: {t.disabled}; border-style: dashed; }}
QPushButton#primary {{ background: {t.accent}; color: white; border: none; font-size: 12pt; font-weight: 600;
                      padding: 12px 22px; }}
QPushButton#primary:hover {{ background: {t.accent_hover}; }}
QPushButton#primary:disabled {{ background: {t.line}; color: {t.disabled}; }}
QPushButton#secondary {{ font-size: 12pt; padding: 11px 22px; }}
QPushButton#swatch {{ min-width: 56px; padding: 7px 8px; }}
QCheckBox:disabled, QLabel:disabled {{ color: {t.disabled}; }}
QSlider::groove:horizontal {{ height: 4px; background: {t.line}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {t.accent}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {t.handle}; border: 1px solid {t.handle_line}; width: 16px; height: 16px;
                              margin: -7px 0; border-radius: 8px; }}
QCheckBox::indicator {{ width: 14px; height: 14px; border: 1px solid {t.control_line}; border-radius: 3px;
                        background: {t.card}; }}
QCheckBox::indicator:checked {{ background: {t.accent}; border-color: {t.accent}; image: url({CHECK}); }}
QCheckBox::indicator:disabled {{ border-color: {t.line}; }}
QCheckBox::indicator:checked:disabled {{ background: {t.line}; border-color: {t.line}; }}
QStatusBar {{ background: {t.card}; border-top: 1px solid {t.line}; color: {t.muted}; }}
QStatusBar QLabel {{ color: {t.muted}; }}
QScrollArea {{ background: transparent; border: none; }}
QComboBox#themeChoice {{ background: transparent; color: {t.muted}; border: none; padding: 1px 6px; }}
QToolTip {{ background: {t.card}; color: {t.ink}; border: 1px solid {t.line}; padding: 4px; }}
QFrame#entryStrip {{ background: {t.sunken}; border: 1px solid {t.line}; border-radius: 8px; }}
QLabel#entered {{ color: {t.ink}; font-weight: 600; }}
QLabel#storeWarning {{ background: {t.warn_bg}; color: {t.warn_ink}; border: 1px solid {t.warn_line}; border-radius: 8px;
                       padding: 6px 10px; }}
QLabel#medicine {{ color: {t.ink}; }}
QTabWidget::pane {{ background: {t.card}; border: 1px solid {t.line}; border-radius: 10px; top: -1px; }}
QTabBar::tab {{ background: transparent; color: {t.muted}; padding: 6px 14px; border: none;
                border-bottom: 2px solid transparent; font-weight: 600; }}
QTabBar::tab:selected {{ color: {t.ink}; border-bottom: 2px solid {t.accent_line}; }}
QTabBar::tab:hover {{ color: {t.ink}; }}
QPushButton#small {{ padding: 4px 10px; }}
QTableWidget {{ border: 1px solid {t.line}; border-radius: 6px; background: {t.card}; alternate-background-color: {t.sunken};
                gridline-color: {t.line}; }}
QHeaderView::section {{ background: {t.card}; color: {t.muted}; border: none; border-bottom: 1px solid {t.line};
                        padding: 3px 6px; font-size: 9pt; }}
"""


def system_theme() -> str:
    """"dark" when the desktop asks for a dark look, else "light" (Qt 6.5+ knows; older: light)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None and scheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def resolve(choice: str) -> Theme:
    """The theme for a choice of THEME_CHOICES (an unknown one: the system's)."""
    return THEMES.get(choice) or THEMES[system_theme()]


def apply_style(app: QApplication, choice: str = "system") -> Theme:
    """Draw the whole application in the chosen theme ("system", "light" or "dark"); returns it."""
    global _current
    t = resolve(choice)
    _current = t
    app.setStyle("Fusion")
    pal = QPalette(app.palette())
    for role, colour in ((QPalette.Window, t.page), (QPalette.Base, t.card), (QPalette.AlternateBase, t.sunken),
                         (QPalette.Highlight, t.accent), (QPalette.HighlightedText, "#ffffff"),
                         (QPalette.Text, t.ink), (QPalette.WindowText, t.ink), (QPalette.ButtonText, t.ink),
                         (QPalette.Button, t.card), (QPalette.ToolTipBase, t.card), (QPalette.ToolTipText, t.ink),
                         (QPalette.PlaceholderText, t.muted)):
        pal.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.WindowText, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(t.disabled))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSizeF(10.0)
    app.setFont(font)
    app.setStyleSheet(stylesheet(t))
    return t
