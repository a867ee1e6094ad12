"""The one paint function for the target: used by the client display and the therapist's preview.

What to draw comes from the engine (``FrameSample.look``): size, edge, colours and visibility glide on
the stimulus clock like the tone does, and the engine keeps every change photosafe (core.photosafe).

The target's size is its *visible* diameter, the diameter at half of its peak brightness above the
background: a soft edge spreads evenly inside and outside it, so softening never shrinks the target.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QRadialGradient

from ..core.engine import FrameSample
from ..core.look import EYES_CLOSED_DIM, Look, look_of

__all__ = ["EYES_CLOSED_DIM", "Look", "look_of", "paint_stimulus", "target_center", "target_radii"]


def _paint_dim_text(painter: QPainter, rect: QRectF, look: Look, text: str, align, lighter: int, darker: int,
                    px: int, spacing: int) -> None:
    """``text`` (``px`` high) in a colour a little off the background (lighter on a dark one)."""
    painter.save()
    c = QColor.fromRgbF(*look.background)
    c = c.lighter(lighter) if c.lightnessF() < 0.5 else c.darker(darker)
    painter.setPen(c)
    f = painter.font()
    f.setPixelSize(px)
    f.setLetterSpacing(f.SpacingType.PercentageSpacing, spacing)
    painter.setFont(f)
    painter.drawText(rect, align, text)
    painter.restore()


def _paint_badge(painter: QPainter, rect: QRectF, look: Look, text: str) -> None:
    """A small, dim label in the corner (e.g. GENTLE), barely above the background."""
    margin = rect.height() * 0.03
    _paint_dim_text(painter, rect.adjusted(margin, margin, -margin, -margin), look, text,
                    Qt.AlignRight | Qt.AlignBottom, 190, 140, max(9, int(rect.height() * 0.018)), 130)


#: what the client screen says during the left/right headphone check (when the therapist asks for it)
CHECK_WORDS = {"left": "left", "right": "right"}


def _paint_words(painter: QPainter, rect: QRectF, look: Look, text: str) -> None:
    """A calm word in the middle of the screen (the headphone check's "left" / "right"), dim."""
    _paint_dim_text(painter, rect, look, text, Qt.AlignCenter, 260, 170, max(12, int(rect.height() * 0.06)), 115)


def target_radii(look: Look, height: float) -> tuple[float, float, float]:
    """(solid radius, half-brightness radius, outer radius) in px: the visible radius is the one at
    half brightness; the soft edge (a raised cosine) spans ``softness`` x that radius around it."""
    half = look.diameter_pct / 100.0 * height / 2.0
    width = max(0.0, min(1.0, look.softness)) * half
    return half - width / 2.0, half, half + width / 2.0


def target_center(look: Look, sample: FrameSample, width: float, height: float) -> tuple[QPointF, float]:
    """Where the target's centre is drawn (px) and its outer radius (px) for a frame sample: the
    whole soft edge stays on the screen at the ends of the sweep."""
    radius = target_radii(look, height)[2]
    half_x = max(0.0, min(look.sweep * width / 2.0, width / 2.0 - radius))
    half_y = max(0.0, min(look.sweep * height / 2.0, height / 2.0 - radius))
    return QPointF(width / 2.0 + sample.x * half_x, height / 2.0 - sample.y * half_y), radius


def paint_stimulus(painter: QPainter, rect: QRectF, look: Look | None, sample: FrameSample | None,
                   visible: bool = True, badge: str = "", only=None, say_check: bool = False) -> None:
    """Background, then the target (a disc with a soft radial edge) where the sample says.

    ``look``: None draws the look the sample carries (the engine's, at that frame).
    ``only``: the rectangles that need repainting (a partial update); default the whole ``rect``.
    ``say_check``: the part of a headphone check heard at the sample's frame is written ("left" ...).
    """
    if look is None:
        look = sample.look
    bg = QColor.fromRgbF(*look.background)
    for r in (only if only is not None else (rect,)):
        painter.fillRect(r, bg)
    if badge:
        _paint_badge(painter, rect, look, badge)
    words = CHECK_WORDS.get(sample.check_phase, "") if say_check and sample is not None else ""
    if words:
        _paint_words(painter, rect, look, words)
    opacity = 0.0 if sample is None or not visible else sample.opacity * look.visibility
    if opacity <= 0.001:
        return
    painter.save()
    painter.translate(rect.topLeft())
    painter.setRenderHint(QPainter.Antialiasing, True)
    centre, radius = target_center(look, sample, rect.width(), rect.height())
    solid, _half, radius = target_radii(look, rect.height())
    if radius <= 0.5:
        painter.restore()
        return
    grad = QRadialGradient(centre, radius)
    colour = QColor.fromRgbF(*look.target)
    colour.setAlphaF(max(0.0, min(1.0, opacity)))
    clear = QColor(colour)
    clear.setAlphaF(0.0)
    inner = max(0.0, solid / radius)  # where the soft edge starts, as a share of the outer radius
    soft = 1.0 - inner
    if soft <= 0.001:  # hard edge, still anti-aliased by the painter
        painter.setPen(Qt.NoPen)
        painter.setBrush(colour)
    else:
        grad.setColorAt(0.0, colour)
        grad.setColorAt(inner, colour)
        # a smooth (not linear) falloff: a few stops of a raised cosine
        for i in range(1, 6):
            u = i / 6.0
            c = QColor(colour)
            c.setAlphaF(colour.alphaF() * (0.5 + 0.5 * math.cos(math.pi * u)))
            grad.setColorAt(inner + soft * u, c)
        grad.setColorAt(1.0, clear)
        painter.setPen(Qt.NoPen)
        painter.setBrush(grad)
    painter.drawEllipse(centre, radius, radius)
    painter.restore()
