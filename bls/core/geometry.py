"""The client screen in degrees of visual angle: the same sweep moves the client's eyes through the same
angle on any monitor at any distance.

A length ``s`` centred in front of the eye at a distance ``d`` subtends ``2·atan(s / 2d)``
(:func:`degrees_for`; its inverse :func:`size_for`). The screen is taken as flat and the eye as facing
its centre. Qt-free: the session core holds the client screen's :class:`ScreenGeometry` and resolves
presets that give their sweep and target in degrees (:func:`resolve`); the engine keeps working in
% of the screen.

What the degrees are of, exactly as the client display draws (``bls.ui.stimulus_painter``):
- the sweep: the horizontal travel of the target's centre, ``sweep_width_pct`` of the display's width,
  shortened where the target's soft edge would leave the screen (so at 100 % it is a little less than
  the screen's own width);
- the target: its visible diameter (at half brightness), ``target_diameter_pct`` of the display's
  height, seen at the centre of the screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from .preset import Motion, Preset, Visual

SYSTEM, ENTERED = "system", "entered"  # where a screen's physical size came from
SIZE_MM_MIN, SIZE_MM_MAX = 50.0, 3000.0  # a screen's physical width or height
DISTANCE_CM_MIN, DISTANCE_CM_MAX = 20.0, 500.0
DEFAULT_DISTANCE_CM = 60.0
#: a size from the system whose shape differs from the pixels' by more than this is not believed
#: (pixels are square on every screen bls is used with)
ASPECT_TOLERANCE = 0.10


def _limits(cls, name: str) -> tuple[float, float]:
    f = next(f for f in fields(cls) if f.name == name)
    return f.metadata["lo"], f.metadata["hi"]


SWEEP_PCT_MIN, SWEEP_PCT_MAX = _limits(Motion, "sweep_width_pct")
DIAMETER_PCT_MIN, DIAMETER_PCT_MAX = _limits(Visual, "target_diameter_pct")


def degrees_for(size_mm: float, distance_mm: float) -> float:
    """The angle (degrees) a length ``size_mm`` centred at ``distance_mm`` subtends: 2·atan(s / 2d)."""
    return math.degrees(2.0 * math.atan(size_mm / (2.0 * distance_mm)))


def size_for(degrees: float, distance_mm: float) -> float:
    """The length (mm) centred at ``distance_mm`` that subtends ``degrees``: 2·d·tan(a / 2)."""
    return 2.0 * distance_mm * math.tan(math.radians(degrees) / 2.0)


def shown_degrees(degrees: float | None) -> str:
    """Degrees as the therapist reads them: one decimal ("32.4°"); "–" when unknown."""
    return "–" if degrees is None else f"{degrees:.1f}°"


def shown_number(value: float) -> str:
    """A size or distance as typed: 531, 531.5 (one decimal at most)."""
    value = round(value, 1)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def size_problem(width_mm, height_mm) -> str:
    """Why a physical size is not taken ("" when it is), in words for the therapist."""
    for what, v in (("width", width_mm), ("height", height_mm)):
        n = _number(v)
        if n is None:
            return f"the {what} {v!r} is not a number of millimetres"
        if not SIZE_MM_MIN <= n <= SIZE_MM_MAX:
            return (f"a {what} of {shown_number(n)} mm is out of range: allowed {SIZE_MM_MIN:g} to "
                    f"{SIZE_MM_MAX:g} mm")
    return ""


def distance_problem(distance_cm) -> str:
    """Why a viewing distance is not taken ("" when it is)."""
    n = _number(distance_cm)
    if n is None:
        return f"the viewing distance {distance_cm!r} is not a number of centimetres"
    if not DISTANCE_CM_MIN <= n <= DISTANCE_CM_MAX:
        return (f"a viewing distance of {shown_number(n)} cm is out of range: allowed "
                f"{DISTANCE_CM_MIN:g} to {DISTANCE_CM_MAX:g} cm")
    return ""


def system_size(width_px: int, height_px: int, width_mm, height_mm) -> tuple[tuple[float, float] | None, str]:
    """The physical size the system reports (EDID via ``QScreen.physicalSize``), if it is believable:
    (``(width_mm, height_mm)``, "") or (None, why not). Systems often report 0, a size of the wrong shape
    for the pixels, or nonsense (a projector reporting 1 cm)."""
    w, h = _number(width_mm), _number(height_mm)
    if w is None or h is None or w <= 0 or h <= 0:
        return None, "the screen does not report its size"
    why = size_problem(w, h)
    if why:
        return None, f"the screen reports {shown_number(w)} × {shown_number(h)} mm, which cannot be right ({why})"
    if width_px > 0 and height_px > 0:
        shape_px, shape_mm = width_px / height_px, w / h
        if abs(shape_mm / shape_px - 1.0) > ASPECT_TOLERANCE:
            return None, (f"the screen reports {shown_number(w)} × {shown_number(h)} mm, which is not the shape "
                          f"of its {width_px} × {height_px} pixels")
    return (w, h), ""


#: the path's direction in the painter's terms: (share of the width, share of the height) at each end
_PATH_AXES = {"horizontal": (1.0, 0.0), "vertical": (0.0, 1.0), "diagonal_up": (1.0, 1.0), "diagonal_down": (1.0, 1.0)}


@dataclass(frozen=True)
class ScreenGeometry:
    """The client screen as the client sees it: pixels, physical size, viewing distance.

    ``area_width_px``/``area_height_px``: the client display's drawing area when it is a window on that
    screen (0: the whole screen, fullscreen)."""
    name: str
    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    distance_cm: float = DEFAULT_DISTANCE_CM
    source: str = SYSTEM  # SYSTEM or ENTERED
    area_width_px: int = 0
    area_height_px: int = 0

    @property
    def distance_mm(self) -> float:
        return self.distance_cm * 10.0

    @property
    def display_width_mm(self) -> float:
        """The width the client display draws on (the screen's, or its window's)."""
        w = self.area_width_px or self.width_px
        return self.width_mm * w / self.width_px

    @property
    def display_height_mm(self) -> float:
        h = self.area_height_px or self.height_px
        return self.height_mm * h / self.height_px

    def as_record(self) -> dict:
        return {"screen": self.name, "width_px": self.width_px, "height_px": self.height_px,
                "width_mm": round(self.width_mm, 1), "height_mm": round(self.height_mm, 1),
                "distance_cm": round(self.distance_cm, 1), "size_from": self.source,
                **({"display_width_px": self.area_width_px, "display_height_px": self.area_height_px}
                   if self.area_width_px else {})}

    # ------------------------------------------------------------------ the target

    def target_deg(self, diameter_pct: float) -> float:
        """The target's visible diameter in degrees."""
        return degrees_for(diameter_pct / 100.0 * self.display_height_mm, self.distance_mm)

    def target_pct_for(self, degrees: float) -> float:
        """The diameter (% of the display's height) that subtends ``degrees`` (not clamped)."""
        return size_for(degrees, self.distance_mm) / self.display_height_mm * 100.0

    # ------------------------------------------------------------------ the sweep

    def _edge_mm(self, diameter_pct: float, softness_pct: float) -> float:
        """The target's outer radius (mm): its centre stays this far inside the edge (as painted)."""
        half = diameter_pct / 100.0 * self.display_height_mm / 2.0
        return half * (1.0 + max(0.0, min(1.0, softness_pct / 100.0)) / 2.0)

    def _sweep_half_mm(self, sweep_pct: float, diameter_pct: float, softness_pct: float, path: str) -> float:
        """How far from the centre (mm) the target's centre goes at each end, as the painter draws it: the
        sweep is a share of the width across and of the height up and down, each kept inside the edge."""
        edge = self._edge_mm(diameter_pct, softness_pct)
        w, h = self.display_width_mm, self.display_height_mm
        half_x = max(0.0, min(sweep_pct / 100.0 * w / 2.0, w / 2.0 - edge))
        half_y = max(0.0, min(sweep_pct / 100.0 * h / 2.0, h / 2.0 - edge))
        across, up = _PATH_AXES[path]
        return math.hypot(across * half_x, up * half_y)

    def sweep_deg(self, sweep_pct: float, diameter_pct: float = 0.0, softness_pct: float = 0.0,
                  path: str = "horizontal") -> float:
        """The angle the target's centre travels through, end to end, at ``sweep_pct`` of the screen
        along ``path`` (the width across, the height up and down, both on a diagonal)."""
        return degrees_for(2.0 * self._sweep_half_mm(sweep_pct, diameter_pct, softness_pct, path), self.distance_mm)

    def max_sweep_deg(self, diameter_pct: float = 0.0, softness_pct: float = 0.0, path: str = "horizontal") -> float:
        """The widest sweep this screen shows at this distance (at 100 %) along ``path``."""
        return self.sweep_deg(SWEEP_PCT_MAX, diameter_pct, softness_pct, path)

    def sweep_pct_for(self, degrees: float, path: str = "horizontal") -> float:
        """The sweep (% of the screen along ``path``) whose centre travels through ``degrees`` (not
        clamped, the edge not counted)."""
        across, up = _PATH_AXES[path]
        span = math.hypot(across * self.display_width_mm, up * self.display_height_mm)
        return size_for(degrees, self.distance_mm) / span * 100.0

    def with_distance(self, distance_cm: float) -> "ScreenGeometry":
        return replace(self, distance_cm=float(distance_cm))


# --------------------------------------------------------------------------- presets in degrees


@dataclass(frozen=True)
class Resolved:
    """A preset as it plays on a screen: the % fields set from the degrees where the geometry is known,
    with a note for the therapist for each fallback or limit."""
    preset: Preset
    notes: tuple[str, ...] = ()


def resolve(p: Preset, geometry: ScreenGeometry | None) -> Resolved:
    """``p`` with ``motion.sweep_width_pct`` and ``visual.target_diameter_pct`` computed from
    ``sweep_width_deg`` and ``target_diameter_deg`` when the geometry is known (each clamped to its %
    range, with a note); without a geometry the % fields are used as they are, with a note. A preset
    without degrees is returned as it is."""
    m, v = p.motion, p.visual
    if m.sweep_width_deg is None and v.target_diameter_deg is None:
        return Resolved(p)
    if geometry is None:
        given = [f"the sweep as {shown_degrees(m.sweep_width_deg)}" if m.sweep_width_deg is not None else "",
                 f"the target as {shown_degrees(v.target_diameter_deg)}" if v.target_diameter_deg is not None else ""]
        used = [f"{m.sweep_width_pct:.0f} % of the width" if m.sweep_width_deg is not None else "",
                f"{v.target_diameter_pct:.1f} % of the height" if v.target_diameter_deg is not None else ""]
        used = [u for u in used if u]
        return Resolved(p, (f"The preset gives {' and '.join(filter(None, given))}, but the client screen's size "
                            f"is not known: {' and '.join(used)} {'is' if len(used) == 1 else 'are'} used instead. "
                            "Enter the screen's size under Client display for degrees.",))
    notes = []
    at = f"at {shown_number(geometry.distance_cm)} cm"
    diameter = v.target_diameter_pct
    if v.target_diameter_deg is not None:
        want = geometry.target_pct_for(v.target_diameter_deg)
        diameter = min(DIAMETER_PCT_MAX, max(DIAMETER_PCT_MIN, want))
        if diameter != want:
            edge = "smallest" if want < DIAMETER_PCT_MIN else "largest"
            notes.append(f"A target of {shown_degrees(v.target_diameter_deg)} {at} is not possible on this screen: "
                         f"it is {shown_degrees(geometry.target_deg(diameter))}, the {edge} allowed "
                         f"({diameter:.1f} % of the screen height).")
    sweep = m.sweep_width_pct
    if m.sweep_width_deg is not None:
        widest = geometry.max_sweep_deg(diameter, v.target_softness_pct, m.path)
        want = geometry.sweep_pct_for(m.sweep_width_deg, m.path)
        if m.sweep_width_deg > widest + 0.05 or want > SWEEP_PCT_MAX:
            sweep = SWEEP_PCT_MAX
            notes.append(f"The screen shows at most {shown_degrees(widest)} {at}; the sweep is 100 % of the screen "
                         f"(asked: {shown_degrees(m.sweep_width_deg)}).")
        elif want < SWEEP_PCT_MIN:
            sweep = SWEEP_PCT_MIN
            notes.append(f"A sweep of {shown_degrees(m.sweep_width_deg)} {at} is below the narrowest allowed: "
                         f"it is {shown_degrees(geometry.sweep_deg(sweep, diameter, v.target_softness_pct, m.path))} "
                         f"({SWEEP_PCT_MIN:.0f} % of the screen).")
        else:
            sweep = want
    out = p
    if sweep != m.sweep_width_pct:
        out = out.with_("motion", sweep_width_pct=round(sweep, 4))
    if diameter != v.target_diameter_pct:
        out = out.with_("visual", target_diameter_pct=round(diameter, 4))
    return Resolved(out, tuple(notes))


def visual_angle(p: Preset, geometry: ScreenGeometry | None) -> dict:
    """What ``p`` shows on this screen, in % and in degrees (None when the geometry is unknown), and
    the geometry used: the record keeps it with each set."""
    m, v = p.motion, p.visual
    out = {"sweep_width_pct": round(m.sweep_width_pct, 3), "target_diameter_pct": round(v.target_diameter_pct, 3),
           "sweep_width_deg": None, "target_diameter_deg": None,
           "sweep_width_deg_asked": m.sweep_width_deg, "target_diameter_deg_asked": v.target_diameter_deg,
           "geometry": geometry.as_record() if geometry is not None else None}
    if geometry is not None:
        out["sweep_width_deg"] = round(geometry.sweep_deg(m.sweep_width_pct, v.target_diameter_pct,
                                                          v.target_softness_pct, m.path), 2)
        out["target_diameter_deg"] = round(geometry.target_deg(v.target_diameter_pct), 3)
    return out
