"""Degrees of visual angle (issue 11): the trigonometry, rounding, fallbacks, clamping, bad input, presets
with degrees, and the session core resolving them on the client screen and recording both.

Every expected angle is computed here with ``math`` from the definition (2·atan(s / 2d)), never with
the code under test."""

import json
import math

import pytest

from bls.core import geometry as geo
from bls.core.engine import SAMPLE_RATE
from bls.core.preset import Motion, Preset, dump_preset, parse_preset_text
from bls.core.room import RoomSettings
from bls.session import SessionCore, SessionRecord
from bls.session.script import ScriptClock


def deg(size_mm: float, distance_mm: float) -> float:
    return math.degrees(2 * math.atan(size_mm / 2 / distance_mm))


def mm(angle: float, distance_mm: float) -> float:
    return 2 * distance_mm * math.tan(math.radians(angle) / 2)


# a 24" 16:9 monitor: 531 x 299 mm, 1920 x 1080 px, at 60 cm
W, H, D = 531.0, 299.0, 600.0
G = geo.ScreenGeometry("CLIENT", 1920, 1080, W, H, 60.0, geo.ENTERED)


# --------------------------------------------------------------------------- the trigonometry


def test_a_531_mm_screen_at_60_cm_spans_47_7_degrees():
    assert geo.degrees_for(531, 600) == pytest.approx(deg(531, 600), abs=1e-12)
    # 2·atan(265.5/600) = 2 x 23.869° = 47.74° (the "47.8" was rounded up by hand)
    assert round(geo.degrees_for(531, 600), 1) == 47.7
    assert geo.degrees_for(1000, 500) == pytest.approx(90.0)  # 2·atan(1) = 90°


@pytest.mark.parametrize("angle,distance", [(1.0, 600), (30.0, 600), (47.8, 600), (80.0, 450), (0.2, 2000)])
def test_size_for_is_the_inverse(angle, distance):
    assert geo.size_for(angle, distance) == pytest.approx(mm(angle, distance), rel=1e-12)
    assert geo.degrees_for(geo.size_for(angle, distance), distance) == pytest.approx(angle, rel=1e-12)


def test_the_target_in_degrees_is_its_diameter_of_the_height():
    assert G.target_deg(5.0) == pytest.approx(deg(0.05 * H, D), rel=1e-12)
    assert G.target_pct_for(1.0) == pytest.approx(mm(1.0, D) / H * 100, rel=1e-12)


def test_the_sweep_is_the_travel_of_the_centre_as_drawn():
    # small target, no soft edge: the centre travels the full share of the width
    assert G.sweep_deg(50.0) == pytest.approx(deg(0.5 * W, D), rel=1e-12)
    # at 100 % the whole target stays on screen: the centre stops one outer radius from the edge
    radius = 0.05 * H / 2 * (1 + 0.15 / 2)  # 5 % high, 15 % soft (the painter's outer radius)
    assert G.sweep_deg(100.0, 5.0, 15.0) == pytest.approx(deg(W - 2 * radius, D), rel=1e-12)
    assert G.max_sweep_deg(5.0, 15.0) == G.sweep_deg(100.0, 5.0, 15.0)
    assert G.sweep_pct_for(30.0) == pytest.approx(mm(30.0, D) / W * 100, rel=1e-12)


def test_a_client_window_uses_its_own_share_of_the_screen():
    g = geo.ScreenGeometry("ONE", 1920, 1080, W, H, 60.0, geo.SYSTEM, 960, 540)
    assert g.target_deg(10.0) == pytest.approx(deg(0.10 * H / 2, D), rel=1e-12)
    assert g.sweep_deg(100.0) == pytest.approx(deg(W / 2, D), rel=1e-12)


def test_distance_changes_the_angle():
    far = G.with_distance(120.0)
    assert far.sweep_deg(80.0) == pytest.approx(deg(0.8 * W, 1200), rel=1e-12)
    assert far.sweep_deg(80.0) < G.sweep_deg(80.0)


# --------------------------------------------------------------------------- rounding and words


def test_degrees_are_shown_to_one_decimal():
    assert geo.shown_degrees(47.738) == "47.7°"
    assert geo.shown_degrees(32.44) == "32.4°" and geo.shown_degrees(32.46) == "32.5°"
    assert geo.shown_degrees(None) == "–"
    assert geo.shown_number(531.0) == "531" and geo.shown_number(531.25) == "531.2"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("w,h,said", [(10, 300, "a width of 10 mm is out of range: allowed 50 to 3000 mm"),
                                      (500, 4000, "a height of 4000 mm is out of range: allowed 50 to 3000 mm"),
                                      ("wide", 300, "the width 'wide' is not a number of millimetres"),
                                      (float("nan"), 300, "not a number"), (True, 300, "not a number")])
def test_a_size_out_of_range_says_why(w, h, said):
    assert said in geo.size_problem(w, h)


def test_sizes_and_distances_in_range_are_taken():
    assert geo.size_problem(50, 3000) == "" and geo.size_problem(531, 299) == ""
    assert geo.distance_problem(20) == "" and geo.distance_problem(500) == ""
    assert geo.distance_problem(19.9) == "a viewing distance of 19.9 cm is out of range: allowed 20 to 500 cm"
    assert "not a number" in geo.distance_problem(None)


@pytest.mark.parametrize("w,h", [(0, 0), (None, None), (-1, 300), (float("inf"), 300)])
def test_a_size_the_system_does_not_report_is_unknown(w, h):
    size, why = geo.system_size(1920, 1080, w, h)
    assert size is None and why == "the screen does not report its size"


def test_a_system_size_of_the_wrong_shape_or_implausible_is_unknown():
    size, why = geo.system_size(1920, 1080, 300, 300)  # square mm for 16:9 pixels
    assert size is None and "not the shape of its 1920 × 1080 pixels" in why
    size, why = geo.system_size(1920, 1080, 16, 9)  # a "size" that is really the aspect ratio
    assert size is None and "cannot be right" in why
    assert geo.system_size(1920, 1080, 531, 299) == ((531.0, 299.0), "")


# --------------------------------------------------------------------------- presets in degrees


def in_degrees(sweep=None, target=None, **pct) -> Preset:
    p = Preset(name="deg")
    return p.with_("motion", sweep_width_deg=sweep, **{k: v for k, v in pct.items() if k.startswith("sweep")}) \
            .with_("visual", target_diameter_deg=target, **{k: v for k, v in pct.items() if k.startswith("target")})


def test_a_preset_with_degrees_round_trips_through_yaml():
    p = in_degrees(30.0, 1.5)
    text = dump_preset(p)
    assert "sweep_width_deg: 30.0" in text and "target_diameter_deg: 1.5" in text
    back, problems = parse_preset_text(text)
    assert problems == [] and back == p


def test_a_preset_without_degrees_writes_none_and_null_means_absent():
    text = dump_preset(Preset(name="pct"))
    assert "_deg" not in text
    back, problems = parse_preset_text(text.replace("  sweep_width_pct: 85.0", "  sweep_width_pct: 85.0\n"
                                                    "  sweep_width_deg: null"))
    assert problems == [] and back.motion.sweep_width_deg is None


@pytest.mark.parametrize("field,value,said", [("motion:\n  sweep_width_deg", 90, "allowed 5 to 80 degrees"),
                                              ("visual:\n  target_diameter_deg", 0.1, "allowed 0.2 to 10 degrees"),
                                              ("motion:\n  sweep_width_deg", "'wide'", "is not a number")])
def test_degrees_out_of_range_are_errors(field, value, said):
    p, problems = parse_preset_text(f"name: x\n{field}: {value}\n")
    assert p is None and said in problems[0].message


def test_degrees_resolve_to_percent_with_a_known_geometry():
    r = geo.resolve(in_degrees(30.0, 1.0), G)
    assert r.notes == ()
    assert r.preset.motion.sweep_width_pct == pytest.approx(mm(30.0, D) / W * 100, abs=1e-3)
    assert r.preset.visual.target_diameter_pct == pytest.approx(mm(1.0, D) / H * 100, abs=1e-3)
    assert r.preset.motion.sweep_width_deg == 30.0  # what was asked stays in the settings


def test_without_a_geometry_the_percent_fields_are_used_and_the_therapist_is_told():
    p = in_degrees(30.0, sweep_width_pct=70.0)
    r = geo.resolve(p, None)
    assert r.preset == p
    (note,) = r.notes
    assert "the sweep as 30.0°" in note and "70 % of the width is used instead" in note
    assert "Enter the screen's size under Client display" in note


def test_a_preset_without_degrees_is_left_alone():
    p = Preset(name="pct")
    assert geo.resolve(p, G) == geo.Resolved(p) and geo.resolve(p, None) == geo.Resolved(p)


def test_a_sweep_wider_than_the_screen_shows_is_clamped_with_a_note():
    r = geo.resolve(in_degrees(70.0), G)
    assert r.preset.motion.sweep_width_pct == 100.0
    radius = 0.05 * H / 2 * (1 + 0.15 / 2)
    widest = deg(W - 2 * radius, D)
    (note,) = r.notes
    assert note == (f"The screen shows at most {widest:.1f}° at 60 cm; the sweep is 100 % of the screen "
                    "(asked: 70.0°).")


def test_a_target_too_small_or_too_large_is_clamped_with_a_note():
    far = G.with_distance(500.0)
    r = geo.resolve(in_degrees(target=10.0), far)  # 10° at 5 m: far more than 30 % of the height
    assert r.preset.visual.target_diameter_pct == 30.0 and "the largest allowed" in r.notes[0]
    near = G.with_distance(20.0)
    r = geo.resolve(in_degrees(target=0.2), near)
    assert r.preset.visual.target_diameter_pct == 1.0 and "the smallest allowed" in r.notes[0]


def test_a_sweep_too_narrow_is_clamped_to_the_narrowest():
    r = geo.resolve(in_degrees(5.0), G.with_distance(20.0))
    want = mm(5.0, 200) / W * 100
    assert want < 10 and r.preset.motion.sweep_width_pct == 10.0 and "below the narrowest" in r.notes[0]


# --------------------------------------------------------------------------- the session core


class Run:
    def __init__(self, preset, room=None):
        self.clock = None

        def clocks(engine, _want):
            self.clock = ScriptClock(engine)
            return self.clock
        self.core = SessionCore(preset, clocks, SessionRecord(), room=room)
        self.notices = []
        self.core.notice.connect(self.notices.append)

    def at(self, t: float) -> "Run":
        self.clock.advance_to(int(round(t * SAMPLE_RATE)), self.core)
        return self


def test_the_core_resolves_degrees_when_the_client_screen_is_known(tmp_path):
    r = Run(in_degrees(30.0, 1.0).with_("motion", set_mode="passes", set_passes=2), RoomSettings(tmp_path / "room.json"))
    c = r.core
    assert c.settings.motion.sweep_width_pct == 85.0  # no screen yet: the % of the preset
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    assert c.geometry.source == geo.SYSTEM and c.geometry.distance_cm == 60.0
    assert c.settings.motion.sweep_width_pct == pytest.approx(mm(30.0, D) / W * 100, abs=1e-3)
    assert c.settings.visual.target_diameter_pct == pytest.approx(mm(1.0, D) / H * 100, abs=1e-3)
    assert c.effective.motion.sweep_width_pct == c.settings.motion.sweep_width_pct  # what the engine plays
    # a preset loaded now resolves on this screen too
    c.load_preset(in_degrees(40.0, name="other").with_(name="other"))
    assert c.settings.motion.sweep_width_pct == pytest.approx(mm(40.0, D) / W * 100, abs=1e-3)


def test_the_distance_and_the_size_are_remembered_per_screen_and_read_back(tmp_path):
    path = tmp_path / "room.json"
    r = Run(in_degrees(30.0), RoomSettings(path))
    c = r.core
    c.set_client_screen("CLIENT", 1920, 1080, None)
    assert c.geometry is None and c.geometry_note == "the screen does not report its size"
    assert c.settings.motion.sweep_width_pct == 85.0  # the fallback, and the therapist is told
    assert any("is not known: 85 % of the width is used instead" in n for n in r.notices)
    assert c.set_screen_size(600, 340) == ""
    assert c.geometry.source == geo.ENTERED and (c.geometry.width_mm, c.geometry.height_mm) == (600, 340)
    assert c.set_viewing_distance(80) == ""
    assert c.settings.motion.sweep_width_pct == pytest.approx(mm(30.0, 800) / 600 * 100, abs=1e-3)
    # a new session on the same screen name reads both back; another screen name does not
    again = Run(in_degrees(30.0), RoomSettings(path)).core
    again.set_client_screen("CLIENT", 1920, 1080, None)
    assert (again.geometry.width_mm, again.geometry.distance_cm, again.geometry.source) == (600, 80, geo.ENTERED)
    other = Run(in_degrees(30.0), RoomSettings(path)).core
    other.set_client_screen("OTHER", 1920, 1080, None)
    assert other.geometry is None
    assert json.loads(path.read_text())["screens"]["CLIENT"] == {"width_mm": 600.0, "height_mm": 340.0,
                                                                 "distance_cm": 80.0}


def test_forgetting_the_entered_size_goes_back_to_the_system_size(tmp_path):
    c = Run(Preset(), RoomSettings(tmp_path / "room.json")).core
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    c.set_screen_size(600, 340)
    assert c.geometry.width_mm == 600
    c.forget_screen_size()
    assert (c.geometry.width_mm, c.geometry.source) == (W, geo.SYSTEM)


def test_bad_input_is_refused_with_a_message_and_nothing_changes(tmp_path):
    path = tmp_path / "room.json"
    c = Run(in_degrees(30.0), RoomSettings(path)).core
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    before = (c.geometry, c.settings)
    with pytest.raises(ValueError, match="A width of 5 mm is out of range: allowed 50 to 3000 mm"):
        c.set_screen_size(5, 300)
    with pytest.raises(ValueError, match="A viewing distance of 900 cm is out of range"):
        c.set_viewing_distance(900)
    assert (c.geometry, c.settings) == before and not path.exists()


def test_a_room_file_that_cannot_be_written_keeps_the_values_for_the_session(tmp_path):
    path = tmp_path / "room.json"
    path.write_text("not json")  # not bls's: never overwritten
    c = Run(Preset(), RoomSettings(path)).core
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    problem = c.set_viewing_distance(90)
    assert "holds for this session only" in problem
    assert c.geometry.distance_cm == 90 and path.read_text() == "not json"


def test_moving_the_sweep_in_percent_drops_its_degrees():
    c = Run(in_degrees(30.0, 1.0)).core
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    c.change(c.settings.with_("motion", sweep_width_pct=50.0))
    assert c.settings.motion.sweep_width_pct == 50.0 and c.settings.motion.sweep_width_deg is None
    assert c.settings.visual.target_diameter_deg == 1.0  # the target stays in degrees
    # another change (the speed) keeps the % as it is
    c.change(c.settings.with_("motion", speed_cycles_per_s=1.2))
    assert c.settings.motion.sweep_width_pct == 50.0


def test_the_set_record_carries_percent_degrees_and_the_geometry():
    r = Run(in_degrees(30.0, 1.0).with_("motion", set_mode="passes", set_passes=2))
    c = r.core
    c.set_client_screen("CLIENT", 1920, 1080, (W, H))
    c.start()
    r.at(10.0)
    (entry,) = c.record.sets
    va = entry["visual_angle"]
    assert va["sweep_width_pct"] == pytest.approx(mm(30.0, D) / W * 100, abs=1e-3)
    assert va["sweep_width_deg"] == pytest.approx(30.0, abs=0.01) and va["sweep_width_deg_asked"] == 30.0
    assert va["target_diameter_deg"] == pytest.approx(1.0, abs=0.001)
    assert va["geometry"] == {"screen": "CLIENT", "width_px": 1920, "height_px": 1080, "width_mm": W,
                              "height_mm": H, "distance_cm": 60.0, "size_from": "system"}
    assert any(e["kind"] == "screen_geometry" and e["width_mm"] == W for e in c.record.events)
    json.dumps(c.record.document(), allow_nan=False)  # written as it is


def test_without_a_geometry_the_record_says_degrees_are_unknown():
    r = Run(Preset().with_("motion", set_mode="passes", set_passes=2))
    c = r.core
    c.start()
    r.at(10.0)
    va = c.record.sets[0]["visual_angle"]
    assert va["sweep_width_pct"] == 85.0 and va["sweep_width_deg"] is None and va["geometry"] is None


# --------------------------------------------------------------------------- the path's direction

@pytest.mark.parametrize("path, travel_mm", [
    ("horizontal", 0.8 * W),
    ("vertical", 0.8 * H),  # the sweep is a share of the height up and down
    ("diagonal_up", math.hypot(0.8 * W, 0.8 * H)),  # corner to corner of the swept rectangle
    ("diagonal_down", math.hypot(0.8 * W, 0.8 * H)),
])
def test_the_sweep_angle_follows_the_path_the_target_takes(path, travel_mm):
    assert G.sweep_deg(80.0, path=path) == pytest.approx(deg(travel_mm, D), abs=1e-9)
    assert G.sweep_pct_for(deg(travel_mm, D), path) == pytest.approx(80.0, abs=1e-9)


def test_a_vertical_preset_in_degrees_is_resolved_on_the_height():
    p = Preset(motion=Motion(path="vertical", sweep_width_deg=20.0))
    pct = geo.resolve(p, G).preset.motion.sweep_width_pct
    # 20° at 60 cm is 2·600·tan(10°) mm of the screen's height
    assert pct == pytest.approx(2 * 600 * math.tan(math.radians(10.0)) / H * 100.0, abs=1e-3)
    assert geo.visual_angle(geo.resolve(p, G).preset, G)["sweep_width_deg"] == pytest.approx(20.0, abs=0.01)
