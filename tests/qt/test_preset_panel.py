"""The preset card as a therapist uses it, through the real app: no real dialog ever opens.

``panel.ask`` (every question the panel asks) is replaced by a scripted fake: each test says in
advance what the therapist answers, and an unexpected question fails the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt

from bls.core.paths import config_dir, user_presets_dir
from bls.core.preset import Preset, dump_preset, load_preset_file


class Script:
    """A fake Asker: answers come from lists the test fills; every question is recorded."""

    def __init__(self):
        self.details_answers: list = []
        self.confirm_answers: list[bool] = []
        self.files: list = []
        self.asked: list[tuple] = []
        self.told: list[tuple[str, str]] = []

    def _next(self, answers: list, question: tuple):
        self.asked.append(question)
        assert answers, f"unexpected question: {question}"
        return answers.pop(0)

    def details(self, title, note, name, description, ok="Save"):
        self.ok_labels = getattr(self, "ok_labels", []) + [ok]
        return self._next(self.details_answers, ("details", title, note, name, description))

    def confirm(self, title, text):
        return self._next(self.confirm_answers, ("confirm", title, text))

    def tell(self, title, text):
        self.told.append((title, text))

    def open_file(self, title):
        return self._next(self.files, ("open_file", title))

    def save_file(self, title, suggested):
        return self._next(self.files, ("save_file", title, suggested))

    def details_asked(self) -> list[tuple]:
        return [q for q in self.asked if q[0] == "details"]

    def done(self) -> bool:
        return not (self.details_answers or self.confirm_answers or self.files)


def script(app) -> Script:
    fake = Script()
    app.control.presets.ask = fake
    return fake


def user(name: str, speed: float = 0.45, **kw) -> Preset:
    return Preset(name=name, description=kw.pop("description", f"{name} for the tests"), **kw).with_(
        "motion", speed_cycles_per_s=speed, set_passes=10).with_("audio", enabled=False, level_dbfs=-33.0)


def put(preset: Preset, file: str | None = None) -> Path:
    d = user_presets_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / (file or f"{preset.name}.yaml")
    path.write_text(dump_preset(preset), encoding="utf-8")
    return path


def shown(panel) -> list[str]:
    return [panel.combo.itemData(i) for i in range(panel.combo.count()) if panel.combo.itemData(i)]


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


@pytest.fixture(autouse=True)
def _delete_closed_windows(qapp):
    """Really delete the windows of the apps of each test (deleteLater needs the event loop): otherwise
    every later app's style sheet re-polishes all the old widgets and each start gets slower."""
    yield
    qapp.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


@pytest.fixture
def launch(qapp):
    """Start more BlsApps (a relaunch, or an app over files prepared first); all shut down at the end."""
    from bls.app import BlsApp

    apps = []

    def start(**kw):
        kw.setdefault("client_screen", "CLIENT")
        kw.setdefault("no_audio", True)
        app = BlsApp(qapp, **kw)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.shutdown()
        app.control.deleteLater()
        app.display.deleteLater()
    qapp.processEvents()


def saved_last_preset() -> str | None:
    """last_preset as another process reads it from the UI state file (what a relaunch really sees)."""
    code = ("import sys\nfrom pathlib import Path\nfrom bls.core.uistate import UiState\n"
            "v = UiState(Path(sys.argv[1])).get('last_preset')\n"
            "sys.stdout.buffer.write(str(v).encode('utf-8'))\n")
    out = subprocess.run([sys.executable, "-c", code, str(config_dir())], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode("utf-8")


# --------------------------------------------------------------------------- build, save, relaunch


def test_build_save_quit_relaunch_gets_the_preset_back(bls_app, launch, qtbot, qapp):
    c, panel = bls_app.control, bls_app.control.presets
    ask = script(bls_app)
    c.speed_spin.setValue(1.15)
    c.level_slider.setValue(-31)
    c.passes_spin.setValue(28)
    c.path_combo.setCurrentIndex(c.path_combo.findData("diagonal_up"))
    built = bls_app.session.settings
    assert (built.motion.speed_cycles_per_s, built.audio.level_dbfs, built.motion.set_passes) == (1.15, -31.0, 28)
    assert not panel.modified.isHidden()

    name = "Anna — désensibilisation"
    ask.details_answers = [(name, "Her processing pace.")]
    click(qtbot, panel.save_button)  # the loaded preset is the built-in 'standard'
    [(_, title, note, default, description)] = ask.details_asked()
    assert title == "Save preset as" and "built-in" in note and "standard" in note
    # the built-in's words describe its own numbers: changed numbers start with an empty description,
    # and its rationale (a source for its numbers) is not copied
    assert default == "standard (my version)" and description == ""
    expected = built.with_(name=name, description="Her processing pace.", rationale="")

    assert panel.loaded == name and bls_app.library.get(name) == expected and not bls_app.library.is_builtin(name)
    assert panel.combo.currentData() == name and name in shown(panel)
    assert panel.modified.isHidden() and bls_app.session.settings.stimulus_equal(expected)
    assert bls_app.library.get("standard").motion.speed_cycles_per_s == 1.0  # the built-in is untouched
    files = list(user_presets_dir().glob("*.yaml"))
    assert len(files) == 1 and load_preset_file(files[0]) == (expected, [])

    bls_app.shutdown()
    qapp.processEvents()
    assert saved_last_preset() == name
    again = launch()  # no preset named: the last one used
    assert again.control.presets.loaded == name and again.library.get(name) == expected
    assert again.session.settings == expected
    assert again.control.speed_spin.value() == pytest.approx(1.15) and again.control.level_slider.value() == -31
    assert again.control.presets.modified.isHidden() and again.control.presets.combo.currentData() == name


def test_modified_mark_appears_on_change_and_revert_restores(bls_app, qtbot):
    p = user("calm", 0.45)
    put(p)
    bls_app.library.reload()
    bls_app.load_preset("calm")
    c, panel = bls_app.control, bls_app.control.presets
    assert panel.modified.isHidden() and not panel.revert_button.isEnabled()
    c.speed_spin.setValue(0.8)
    c.depth_slider.setValue(40)
    assert not panel.modified.isHidden() and panel.modified.text() == "● modified"
    assert panel.revert_button.isEnabled() and panel.save_button.isEnabled()
    click(qtbot, panel.revert_button)
    assert bls_app.session.settings == p
    assert c.speed_spin.value() == pytest.approx(0.45) and c.depth_slider.value() == 100
    assert panel.modified.isHidden() and not panel.revert_button.isEnabled()
    assert not panel.save_button.isEnabled()  # an unchanged user preset has nothing to save


def test_save_on_a_modified_user_preset_overwrites_it_and_keeps_a_backup(bls_app, qtbot):
    path = put(user("calm", 0.45))
    old = path.read_bytes()
    bls_app.library.reload()
    bls_app.load_preset("calm")
    ask = script(bls_app)
    bls_app.control.speed_spin.setValue(0.6)
    click(qtbot, bls_app.control.presets.save_button)
    assert ask.asked == [] and ask.told == []  # Save on one's own preset asks nothing
    assert bls_app.library.get("calm").motion.speed_cycles_per_s == 0.6
    assert bls_app.library.get("calm").description == "calm for the tests"
    assert path.with_name("calm.yaml.bak").read_bytes() == old
    assert bls_app.control.presets.modified.isHidden()


def test_save_as_with_an_existing_user_name_asks_to_confirm(bls_app, qtbot):
    put(user("calm", 0.45))
    other = put(user("other", 0.9))
    other_raw = other.read_bytes()
    bls_app.library.reload()
    bls_app.load_preset("calm")
    ask = script(bls_app)
    bls_app.control.speed_spin.setValue(0.55)
    panel = bls_app.control.presets

    ask.details_answers = [("other", "x"), ("other", "replaced")]
    ask.confirm_answers = [False, True]
    click(qtbot, panel.save_as_button)
    confirms = [q for q in ask.asked if q[0] == "confirm"]
    assert len(confirms) == 2 and "“other” exists" in confirms[0][2] and "backup" in confirms[0][2]
    assert ask.details_asked()[1][3] == "other"  # after "no", the name is offered again
    assert bls_app.library.get("other").motion.speed_cycles_per_s == 0.55
    assert bls_app.library.get("other").description == "replaced"
    assert other.with_name("other.yaml.bak").read_bytes() == other_raw
    assert bls_app.library.get("calm").motion.speed_cycles_per_s == 0.45
    assert panel.loaded == "other" and ask.done()


def test_save_as_never_replaces_a_builtin_and_cancel_saves_nothing(bls_app, qtbot):
    ask = script(bls_app)
    bls_app.control.speed_spin.setValue(1.3)
    ask.details_answers = [("standard", ""), ("  ", ""), None]
    click(qtbot, bls_app.control.presets.save_as_button)
    second = ask.details_asked()[1]
    assert "“standard” is a built-in preset and cannot be replaced" in second[2]
    assert second[3] == "standard (my version)"
    assert ask.told == [("Save preset", "A preset needs a name.")]
    assert not user_presets_dir().exists() or list(user_presets_dir().glob("*.yaml")) == []
    assert bls_app.library.get("standard").motion.speed_cycles_per_s == 1.0 and ask.done()


def test_builtins_cannot_be_renamed_or_deleted_from_the_menu(bls_app):
    panel = bls_app.control.presets
    assert panel.loaded == "standard"
    assert not panel.act_rename.isEnabled() and not panel.act_delete.isEnabled()
    assert panel.act_duplicate.isEnabled() and panel.act_export.isEnabled()
    # greyed out, and the menu says why on hover
    assert panel.more.menu().toolTipsVisible()
    assert "Built-in presets cannot be renamed" in panel.act_rename.toolTip()
    assert "Built-in presets cannot be deleted" in panel.act_delete.toolTip()
    ask = script(bls_app)
    panel.act_delete.trigger()
    panel.act_rename.trigger()
    assert "standard" in bls_app.library and ask.asked == [] and ask.told == []


# --------------------------------------------------------------------------- rename, duplicate, delete


def test_rename_duplicate_delete_and_undo(bls_app, qtbot):
    path = put(user("calm", 0.45))
    put(user("other", 0.9))
    bls_app.library.reload()
    bls_app.load_preset("calm")
    panel, lib = bls_app.control.presets, bls_app.library
    ask = script(bls_app)

    ask.details_answers = [("other", "taken"), ("Calm place", "The safe place.")]
    panel.act_rename.trigger()
    assert ask.told and "already exists" in ask.told[0][1]
    assert "calm" not in lib and lib.get("Calm place").description == "The safe place."
    assert lib.get("Calm place").stimulus_equal(user("calm", 0.45))
    assert panel.loaded == "Calm place" and panel.combo.currentData() == "Calm place"
    assert "calm" not in shown(panel) and not path.exists()

    ask.details_answers = [("Calm place copy", "A copy.")]
    panel.act_duplicate.trigger()
    assert ask.details_asked()[-1][3] == "Calm place copy"
    assert lib.get("Calm place copy").stimulus_equal(lib.get("Calm place")) and panel.loaded == "Calm place copy"

    bls_app.load_preset("Calm place")
    kept = lib.entries["Calm place"].path
    kept_raw = kept.read_bytes()
    live = bls_app.session.settings
    panel.act_delete.trigger()
    assert "Calm place" not in lib and "Calm place" not in shown(panel) and not kept.exists()
    assert not panel.undo_row.isHidden() and "Deleted “Calm place”" in panel.undo_label.text()
    assert panel.loaded is None and panel.combo.currentIndex() == -1
    assert bls_app.session.settings == live  # the live settings stay, now unsaved
    assert not panel.modified.isHidden() and panel.modified.text() == "● not saved as a preset"

    click(qtbot, panel.undo_button)
    assert kept.read_bytes() == kept_raw and lib.get("Calm place").description == "The safe place."
    assert panel.loaded == "Calm place" and panel.undo_row.isHidden() and "Calm place" in shown(panel)
    assert ask.done()


def test_delete_then_undo_restores_the_exact_file(bls_app, qtbot):
    path = put(user("calm", 0.45))
    raw = path.read_bytes()
    bls_app.library.reload()
    bls_app.load_preset("calm")
    panel = bls_app.control.presets
    panel.act_delete.trigger()
    assert not path.exists() and list((user_presets_dir() / ".trash").iterdir())
    click(qtbot, panel.undo_button)
    assert path.read_bytes() == raw and list((user_presets_dir() / ".trash").iterdir()) == []


# --------------------------------------------------------------------------- import and export


def test_import_a_valid_file(bls_app, tmp_path):
    src = tmp_path / "from Sam.yaml"
    shared = user("Sam's closure", 0.35)
    src.write_text(dump_preset(shared), encoding="utf-8")
    ask = script(bls_app)
    ask.files = [str(src)]
    bls_app.control.presets.import_()
    lib = bls_app.library
    assert lib.get("Sam's closure") == shared and ask.told == []
    assert bls_app.control.presets.loaded == "Sam's closure" and bls_app.session.settings == shared
    assert src.read_text(encoding="utf-8") == dump_preset(shared)


def test_import_an_invalid_file_tells_every_problem_and_adds_nothing(bls_app, tmp_path):
    src = tmp_path / "broken.yaml"
    src.write_text("name: broken\nmotion:\n  speed_cycles_per_s: 4\naudio:\n  level_dbfs: .inf\n  tone: bell\n")
    ask = script(bls_app)
    ask.files = [str(src)]
    before = bls_app.library.names()
    bls_app.control.presets.import_()
    [(title, text)] = ask.told
    assert title == "Import preset" and text.startswith("broken.yaml cannot be imported:")
    for said in ("• Line 3 — motion.speed_cycles_per_s: 4 is out of range: allowed 0.05 to 2 cycles/s",
                 "• Line 5 — audio.level_dbfs: inf is not a finite number",
                 "• Line 6 — audio.tone: 'bell' is not one of"):
        assert said in text
    assert text.endswith("Nothing was added; the file is left as it is.")
    assert bls_app.library.names() == before and shown(bls_app.control.presets) == before
    assert not user_presets_dir().exists() or list(user_presets_dir().glob("*.yaml")) == []
    assert bls_app.control.presets.loaded == "standard"


def test_import_a_file_with_a_taken_name_asks_for_a_new_one(bls_app, tmp_path):
    put(user("calm", 0.45))
    put(user("Calm Sam", 0.5))
    bls_app.library.reload()
    src = tmp_path / "calm-from-sam.yaml"
    src.write_text(dump_preset(user("calm", 0.7)), encoding="utf-8")
    ask = script(bls_app)
    ask.files = [str(src)]
    ask.details_answers = [("Calm Sam", "Sam's calm set"), ("calm (Sam)", "Sam's calm set, 0.7 c/s")]
    bls_app.control.presets.import_()
    first, second = ask.details_asked()
    # the preset's own name and words are offered, and what the therapist types is what is imported
    assert "already exists" in first[2] and first[3] == "calm (imported)" and first[4] == user("calm", 0.7).description
    assert second[2].startswith("A preset named 'Calm Sam' ")  # the name keeps its case in the message
    assert second[4] == "Sam's calm set"
    assert ask.ok_labels == ["Import", "Import"]
    lib = bls_app.library
    assert lib.get("calm (Sam)").motion.speed_cycles_per_s == 0.7
    assert lib.get("calm (Sam)").description == "Sam's calm set, 0.7 c/s"
    assert lib.get("calm").motion.speed_cycles_per_s == 0.45 and lib.get("standard").motion.speed_cycles_per_s == 1.0
    assert bls_app.control.presets.loaded == "calm (Sam)" and ask.done()


def test_import_cancelled_at_the_name_question_adds_nothing(bls_app, tmp_path):
    src = tmp_path / "std.yaml"
    src.write_text(dump_preset(user("standard")), encoding="utf-8")
    ask = script(bls_app)
    ask.files = [str(src)]
    ask.details_answers = [None]
    bls_app.control.presets.import_()
    assert not user_presets_dir().exists() or list(user_presets_dir().glob("*.yaml")) == []


def test_export_writes_a_file_that_bls_presets_validate_accepts(bls_app, tmp_path):
    put(user("calm", 0.45))
    bls_app.library.reload()
    bls_app.load_preset("calm")
    ask = script(bls_app)
    out = tmp_path / "shared" / "calm for Sam.yaml"
    out.parent.mkdir()  # a file dialog offers only folders that exist
    out.write_text("an older export\n")  # the dialog has asked before replacing it
    ask.files = [str(out)]
    bls_app.control.presets.export()
    assert ask.asked == [("save_file", "Export preset", "calm.yaml")]
    assert load_preset_file(out) == (bls_app.library.get("calm"), [])
    proc = subprocess.run([sys.executable, "-m", "bls", "presets", "validate", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"{out}: ok (calm)"


def test_export_cancelled_writes_nothing(bls_app, tmp_path):
    ask = script(bls_app)
    ask.files = [None]
    bls_app.control.presets.export()
    assert list(tmp_path.rglob("*.yaml")) == []


# --------------------------------------------------------------------------- broken files


def test_a_broken_file_shows_the_problems_button_and_the_app_still_starts(launch, qtbot):
    bad = user_presets_dir() / "broken.yaml"
    put(user("calm", 0.45))
    bad.write_text("name: broken\nmotion:\n  speed_cycles_per_s: 9\n  set_passes: -3\n", encoding="utf-8")
    raw, mtime = bad.read_bytes(), bad.stat().st_mtime_ns
    app = launch(preset="calm")
    panel = app.control.presets
    assert shown(panel) == ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed", "calm"]
    assert not panel.problems_button.isHidden()
    assert panel.problems_button.text().startswith("⚠ 1 preset file could not be loaded")
    assert "broken.yaml" in app.control.statusBar().currentMessage()
    ask = script(app)
    click(qtbot, panel.problems_button)
    [(title, text)] = ask.told
    assert "left exactly as they are" in text
    assert f"(in {bad.parent})" in text  # where to find them
    assert "• broken.yaml, line 3 — motion.speed_cycles_per_s: 9 is out of range" in text
    assert "• broken.yaml, line 4 — motion.set_passes: -3 is out of range" in text
    ask.details_answers = [("broken", "")]  # even a preset saved under the same name leaves it alone
    app.control.speed_spin.setValue(0.5)
    click(qtbot, panel.save_as_button)
    assert app.library.get("broken").motion.speed_cycles_per_s == 0.5
    assert bad.read_bytes() == raw and bad.stat().st_mtime_ns == mtime


def test_no_problems_no_button(bls_app):
    assert bls_app.control.presets.problems_button.isHidden()


def test_a_warning_only_file_loads_and_offers_notes(launch):
    put(user("calm", 0.45))
    (user_presets_dir() / "typo.yaml").write_text("name: typo\nmotion:\n  sped: 1\n", encoding="utf-8")
    app = launch()
    panel = app.control.presets
    assert "typo" in shown(panel) and not panel.problems_button.isHidden()
    assert panel.problems_button.text() == "Notes on preset files — details"


# --------------------------------------------------------------------------- known bugs


def test_save_on_the_second_of_two_twins_writes_its_own_file(launch, qtbot):
    a = put(user("twin", 0.4), "twin-a.yaml")
    b = put(user("twin", 0.6), "twin-b.yaml")
    a_raw = a.read_bytes()
    app = launch(preset="twin (twin-b.yaml)")
    app.control.speed_spin.setValue(0.7)
    script(app)
    click(qtbot, app.control.presets.save_button)
    assert a.read_bytes() == a_raw
    assert load_preset_file(b)[0].motion.speed_cycles_per_s == 0.7


@pytest.mark.parametrize("note", ["", "“standard” is a built-in preset and stays as it is. Save your settings as a "
                                      "new preset, under a name of your own, with a description if you like:"])
def test_the_name_dialog_lays_out_without_overlap(qapp, note):
    from PySide6.QtWidgets import QDialogButtonBox

    from bls.ui.preset_panel import PresetDetailsDialog

    d = PresetDetailsDialog(None, "Save as new preset", note, "standard (my version)", "A long description. " * 12)
    d.show()
    qapp.processEvents()
    try:
        buttons = d.findChild(QDialogButtonBox)
        desc, name = d.description.geometry(), d.name.geometry()
        assert buttons.geometry().top() >= desc.bottom() and desc.top() >= name.bottom()
        assert desc.height() >= 90 and d.rect().contains(buttons.geometry())
    finally:
        d.close()


def test_save_as_of_an_unchanged_built_in_keeps_its_words_and_its_source(bls_app, qtbot):
    panel = bls_app.control.presets
    ask = script(bls_app)
    std = bls_app.library.get("standard")
    assert std.rationale  # the built-in cites where its numbers come from
    bls_app.control.audio_check.setChecked(True)  # the fixture starts muted: back to the preset as it is
    assert bls_app.session.settings.stimulus_equal(std) and panel.modified.isHidden()
    ask.details_answers = [("standard copy", std.description)]
    click(qtbot, panel.save_button)
    [(_, _, _, default, description)] = ask.details_asked()
    assert description == std.description
    copy = bls_app.library.get("standard copy")
    assert copy.rationale == std.rationale and copy.stimulus_equal(std)


def test_a_long_preset_name_is_shown_in_full_on_hover(bls_app):
    from PySide6.QtCore import Qt

    panel = bls_app.control.presets
    long = "Anna — slow resourcing set with the warm tone, eyes open, for the first sessions"[:60]
    bls_app.library.save(bls_app.session.settings.with_(name=long, description="Her pace."))
    panel.set_loaded(long)
    i = panel.combo.findData(long)
    assert panel.combo.itemData(i, Qt.ToolTipRole) == f"{long}\nHer pace."
    assert panel.combo.toolTip() == f"{long}\nHer pace."


def test_import_with_a_typo_says_what_was_ignored_in_words(bls_app, tmp_path):
    src = tmp_path / "typo.yaml"
    src.write_text("name: typo preset\nmotion:\n  sped_cycles_per_s: 0.8\n")
    ask = script(bls_app)
    ask.files = [str(src)]
    bls_app.control.presets.import_()
    [(title, text)] = ask.told
    assert text.startswith("Imported “typo preset”, with notes:")
    assert "• Note: Line 3 — motion.sped_cycles_per_s: unknown setting 'sped_cycles_per_s' (ignored): did you " \
           "mean 'speed_cycles_per_s'?" in text
    assert text.endswith("A setting that was not recognised keeps bls's default value.")
    assert bls_app.library.get("typo preset").motion.speed_cycles_per_s == 1.0  # the default, as said
