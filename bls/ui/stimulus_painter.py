"""The one paint function for the target: used by the client display and the therapist's preview.

Visual settings glide: a change of colour, size or softness is blended over ``VISUAL_GLIDE_S`` so the
client never sees a jump or a flash (CLINICAL.md, photosensitivity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QRadialGradient

from ..core import gentle
from ..core.engine import FrameSample
from ..core.preset import Motion, Preset, Visual

VISUAL_GLIDE_S = 0.5
EYES_CLOSED_DIM = 0.6


@dataclass(frozen=True)
class Look:
    diameter_pct: float
    softness: float  # 0..1
    target: tuple[float, float, float]
    background: tuple[float, float, float]
    sweep: float  # 0..1 of the screen
    visibility: float = 1.0  # 0 when the target is off (eyes closed): it fades, never pops
    glide_s: float = VISUAL_GLIDE_S  # how long a change to this look takes (longer in gentle mode)

    @classmethod
    def of(cls, visual: Visual, motion: Motion, gentle_on: bool = False) -> "Look":
        def rgb(hexstr):
            c = QColor(hexstr)
            return (c.redF(), c.greenF(), c.blueF())
        background = rgb(visual.background_color)
        if not visual.show_target:  # eyes closed: the screen stays neutral, and dimmer
            background = tuple(c * EYES_CLOSED_DIM for c in background)
        return cls(visual.target_diameter_pct, visual.target_softness_pct / 100.0, rgb(visual.target_color),
                   background, motion.sweep_width_pct / 100.0, 1.0 if visual.show_target else 0.0,
                   gentle.VISUAL_GLIDE_S if gentle_on else VISUAL_GLIDE_S)

    @classmethod
    def of_settings(cls, p: Preset) -> "Look":
        """The look for settings as played (pass ``Session.effective``: gentle limits applied)."""
        return cls.of(p.visual, p.motion, p.gentle)

    def blend(self, other: "Look", u: float) -> "Look":
        def mix(a, b):
            return a + (b - a) * u

        def mix3(a, b):
            return tuple(mix(x, y) for x, y in zip(a, b))
        return Look(mix(self.diameter_pct, other.diameter_pct), mix(self.softness, other.softness),
                    mix3(self.target, other.target), mix3(self.background, other.background),
                    mix(self.sweep, other.sweep), mix(self.visibility, other.visibility), other.glide_s)


class LookGlide:
    """Glides from the look on screen to a new one, on the caller's clock (seconds)."""

    def __init__(self, look: Look):
        self._from = self._to = look
        self._t0 = -1e9

    def set(self, look: Look, now: float) -> None:
        if look == self._to:
            return
        self._from = self.at(now)
        self._to = look
        self._t0 = now

    def gliding(self, now: float) -> bool:
        return now - self._t0 < self._to.glide_s + 0.05

    def at(self, now: float) -> Look:
        u = (now - self._t0) / self._to.glide_s
        if u >= 1.0:
            return self._to
        u = max(0.0, u)
        u = u * u * (3.0 - 2.0 * u)
        return self._from.blend(self._to, u)


def _paint_badge(painter: QPainter, rect: QRectF, look: Look, text: str) -> None:
    """A small, dim label in the corner (e.g. GENTLE), barely above the background."""
    painter.save()
    c = QColor.fromRgbF(*look.background)
    c = c.lighter(190) if c.lightnessF() < 0.5 else c.darker(140)
    painter.setPen(c)
    f = painter.font()
    f.setPixelSize(max(9, int(rect.height() * 0.018)))
    f.setLetterSpacing(f.SpacingType.PercentageSpacing, 130)
    painter.setFont(f)
    margin = rect.height() * 0.03
    painter.drawText(rect.adjusted(margin, margin, -margin, -margin), Qt.AlignRight | Qt.AlignBottom, text)
    painter.restore()


def target_center(look: Look, sample: FrameSample, width: float, height: float) -> tuple[QPointF, float]:
    """Where the target's centre is drawn (px) and its radius (px) for a frame sample."""
    radius = look.diameter_pct / 100.0 * height / 2.0
    half_x = max(0.0, min(look.sweep * width / 2.0, width / 2.0 - radius))
    half_y = max(0.0, min(look.sweep * height / 2.0, height / 2.0 - radius))
    return QPointF(width / 2.0 + sample.x * half_x, height / 2.0 - sample.y * half_y), radius


def paint_stimulus(painter: QPainter, rect: QRectF, look: Look, sample: FrameSample | None,
                   visible: bool = True, badge: str = "", only=None) -> None:
    """Background, then the target (a disc with a soft radial edge) where the sample says.

    ``only``: the rectangles that need repainting (a partial update); default the whole ``rect``.
    """
    bg = QColor.fromRgbF(*look.background)
    for r in (only if only is not None else (rect,)):
        painter.fillRect(r, bg)
    if badge:
        _paint_badge(painter, rect, look, badge)
    opacity = 0.0 if sample is None or not visible else sample.opacity * look.visibility
    if opacity <= 0.001:
        return
    painter.save()
    painter.translate(rect.topLeft())
    painter.setRenderHint(QPainter.Antialiasing, True)
    centre, radius = target_center(look, sample, rect.width(), rect.height())
    if radius <= 0.5:
        painter.restore()
        return
    grad = QRadialGradient(centre, radius)
    colour = QColor.fromRgbF(*look.target)
    colour.setAlphaF(max(0.0, min(1.0, opacity)))
    clear = QColor(colour)
    clear.setAlphaF(0.0)
    soft = max(0.0, min(1.0, look.softness))
    inner = 1.0 - soft
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
