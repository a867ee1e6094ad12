"""A calm, professional look: neutral greys, one muted teal accent, generous spacing."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f7f7a"
INK = "#1f2933"
MUTED = "#5f6b76"
LINE = "#dde2e7"
PAGE = "#f3f4f6"
CARD = "#ffffff"
WARN = "#9a6b1f"

STYLESHEET = f"""
QWidget {{ color: {INK}; font-size: 10pt; }}
QMainWindow, #page {{ background: {PAGE}; }}
QFrame#card {{ background: {CARD}; border: 1px solid {LINE}; border-radius: 10px; }}
QLabel#cardTitle {{ font-size: 9pt; font-weight: 600; color: {MUTED}; letter-spacing: 0.5px; }}
QLabel#state {{ font-size: 20pt; font-weight: 600; }}
QLabel#bigCount {{ font-size: 26pt; font-weight: 600; }}
QLabel#bigTime {{ font-size: 26pt; font-weight: 300; color: {MUTED}; }}
QLabel#hint, QLabel#readout {{ color: {MUTED}; }}
QLabel#notice {{ color: {WARN}; }}
QLabel#badge {{ background: #efe6d6; color: #6b4e1f; border-radius: 9px; padding: 2px 10px; font-size: 9pt;
               font-weight: 700; letter-spacing: 1px; }}
QPushButton {{ background: {CARD}; border: 1px solid {LINE}; border-radius: 8px; padding: 7px 14px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #a9b1b8; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: none; font-size: 12pt; font-weight: 600;
                      padding: 12px 22px; }}
QPushButton#primary:hover {{ background: #286e6a; }}
QPushButton#secondary {{ font-size: 12pt; padding: 11px 22px; }}
QPushButton#swatch {{ min-width: 64px; }}
QSlider::groove:horizontal {{ height: 4px; background: {LINE}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: white; border: 1px solid #b8c0c7; width: 16px; height: 16px;
                              margin: -7px 0; border-radius: 8px; }}
QCheckBox::indicator {{ width: 16px; height: 16px; }}
QStatusBar {{ background: {CARD}; border-top: 1px solid {LINE}; color: {MUTED}; }}
QScrollArea {{ background: transparent; border: none; }}
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = app.palette()
    pal.setColor(QPalette.Window, QColor(PAGE))
    pal.setColor(QPalette.Base, QColor(CARD))
    pal.setColor(QPalette.Highlight, QColor(ACCENT))
    pal.setColor(QPalette.Text, QColor(INK))
    pal.setColor(QPalette.WindowText, QColor(INK))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSizeF(10.0)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
