"""The preset card of the control window: pick, save, rename, duplicate, delete, import, export.

Built-ins are read-only (saving one asks for a new name). A visible mark says when the live settings
differ from the loaded preset, and Revert brings the preset back. Deleting can be undone. Every
failure says what went wrong; nothing is lost.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QFrame,
                               QHBoxLayout, QLabel, QLayout, QLineEdit, QMenu, QMessageBox, QPlainTextEdit, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from ..core.library import LibraryError, PresetLibrary, check_name, file_stem
from ..core.preset import Preset, load_preset_file


def _sentence(text: str) -> str:
    """``text`` with its first letter capitalised (and nothing else lowered: names keep their case)."""
    return text[:1].upper() + text[1:]


class PresetDetailsDialog(QDialog):
    def __init__(self, parent, title: str, note: str, name: str, description: str, ok: str = "Save"):
        super().__init__(parent)
        self.setWindowTitle(title)
        lay = QVBoxLayout(self)
        self.setMinimumWidth(480)
        if note:
            label = QLabel(note)
            label.setWordWrap(True)
            label.setMinimumWidth(440)  # wrapped at the dialog's width, so its height is known up front
            lay.addWidget(label)
        form = QFormLayout()
        self.name = QLineEdit(name)
        self.name.selectAll()
        self.description = QPlainTextEdit(description)
        self.description.setMinimumHeight(96)
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Save).setText(ok)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        lay.setSizeConstraint(QLayout.SetMinimumSize)  # never smaller than its contents: nothing overlaps
        self.resize(480, self.sizeHint().height())


class Asker:
    """Every question the panel asks the therapist, in one place (tests replace it)."""

    def __init__(self, parent: QWidget):
        self.parent = parent

    def details(self, title: str, note: str, name: str, description: str, ok: str = "Save",
                ) -> tuple[str, str] | None:
        dlg = PresetDetailsDialog(self.parent, title, note, name, description, ok)
        if dlg.exec() != QDialog.Accepted:
            return None
        return dlg.name.text(), dlg.description.toPlainText().strip()

    def confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self.parent, title, text) == QMessageBox.Yes

    def tell(self, title: str, text: str) -> None:
        QMessageBox.warning(self.parent, title, text)

    def open_file(self, title: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, str(Path.home()), "Presets (*.yaml *.yml)")
        return path or None

    def save_file(self, title: str, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, title, str(Path.home() / suggested), "Presets (*.yaml)")
        return path or None


class PresetPanel(QFrame):
    """Emits ``loadRequested(name)`` when the therapist picks a preset; the app loads it."""

    loadRequested = Signal(str)
    message = Signal(str)

    def __init__(self, library: PresetLibrary, session, loaded: str | None):
        super().__init__()
        self.setObjectName("card")
        self.library = library
        self.session = session
        self.loaded: str | None = loaded
        self.ask = Asker(self)
        self._trashed: tuple[str, Path] | None = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 14)
        lay.setSpacing(8)
        title = QLabel("PRESET")
        title.setObjectName("cardTitle")
        lay.addWidget(title)
        row = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.setPlaceholderText("Unsaved settings")
        self.combo.activated.connect(self._picked)
        row.addWidget(self.combo, 1)
        self.more = QToolButton()
        self.more.setText("More ▾")
        self.more.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.more)
        menu.setToolTipsVisible(True)  # a greyed-out action says why on hover
        self.act_rename = menu.addAction("Rename…", self.rename)
        self.act_duplicate = menu.addAction("Duplicate…", self.duplicate)
        self.act_delete = menu.addAction("Delete", self.delete)
        menu.addSeparator()
        menu.addAction("Import…", self.import_)
        self.act_export = menu.addAction("Export…", self.export)
        self.more.setMenu(menu)
        row.addWidget(self.more)
        lay.addLayout(row)
        self.modified = QLabel("● modified")
        self.modified.setObjectName("notice")
        self.description = QLabel()
        self.description.setObjectName("hint")
        self.description.setWordWrap(True)
        lay.addWidget(self.description)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.save_as_button = QPushButton("Save as…")
        self.save_as_button.clicked.connect(self.save_as)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        for b in (self.save_button, self.save_as_button, self.revert_button):
            b.setFocusPolicy(Qt.NoFocus)
        buttons.addWidget(self.modified)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_as_button)
        buttons.addWidget(self.save_button)
        lay.addLayout(buttons)
        self.undo_row = QWidget()
        ur = QHBoxLayout(self.undo_row)
        ur.setContentsMargins(0, 0, 0, 0)
        self.undo_label = QLabel()
        self.undo_label.setObjectName("hint")
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_delete)
        ur.addWidget(self.undo_label, 1)
        ur.addWidget(self.undo_button)
        self.undo_row.hide()
        lay.addWidget(self.undo_row)
        self.problems_button = QPushButton()
        self.problems_button.setObjectName("link")
        self.problems_button.clicked.connect(self.show_problems)
        lay.addWidget(self.problems_button)
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(30_000)
        self._undo_timer.timeout.connect(self.undo_row.hide)
        self.refresh()

    # ------------------------------------------------------------------ view

    def refresh(self) -> None:
        """Rebuild the list from the library and show the loaded preset and its state."""
        self.combo.blockSignals(True)
        self.combo.clear()
        first_user = True
        for name in self.library.names():
            entry = self.library.entries[name]
            if not entry.builtin and first_user and self.combo.count():
                self.combo.insertSeparator(self.combo.count())
                first_user = False
            self.combo.addItem(name + ("" if not entry.builtin else "  ·  built-in"), name)
            tip = name + (f"\n{entry.preset.description}" if entry.preset.description else "")  # long names in full
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ToolTipRole)
        i = self.combo.findData(self.loaded) if self.loaded else -1
        self.combo.setCurrentIndex(i)
        self.combo.setToolTip(self.combo.itemData(i, Qt.ToolTipRole) if i >= 0 else "")
        self.combo.blockSignals(False)
        errors = self.library.errors()
        bad_files = sorted({p.source for p in errors})
        self.problems_button.setVisible(bool(self.library.problems))
        if bad_files:
            self.problems_button.setText(f"⚠ {len(bad_files)} preset file{'s' if len(bad_files) > 1 else ''} "
                                         "could not be loaded — details")
        else:
            self.problems_button.setText("Notes on preset files — details")
        self.update_state()

    def update_state(self) -> None:
        entry = self.library.entries.get(self.loaded) if self.loaded else None
        live: Preset = self.session.settings
        # compared as it plays on this client screen (a preset in degrees sets its % there)
        modified = entry is None or not self.session.core.on_screen(entry.preset).stimulus_equal(live)
        self.modified.setText("● modified" if entry is not None else "● not saved as a preset")
        self.modified.setVisible(modified)
        self.revert_button.setEnabled(entry is not None and modified)
        user = entry is not None and not entry.builtin
        self.save_button.setEnabled(entry is None or modified or not user)
        self.save_button.setToolTip("Built-in presets are read-only: Save asks for a new name"
                                    if entry is not None and entry.builtin else "")
        self.act_rename.setEnabled(user)
        self.act_delete.setEnabled(user)
        self.act_duplicate.setEnabled(entry is not None)
        self.act_export.setEnabled(entry is not None)
        builtin = entry is not None and entry.builtin
        unsaved = "These settings are not saved as a preset yet: Save as… first."
        for act, verb in ((self.act_rename, "renamed"), (self.act_delete, "deleted")):
            act.setToolTip(f"Built-in presets cannot be {verb}: Duplicate… makes a copy of your own."
                           if builtin else unsaved if entry is None else "")
        for act in (self.act_duplicate, self.act_export):
            act.setToolTip(unsaved if entry is None else "")
        self.description.setText(entry.preset.description if entry else "")

    def set_loaded(self, name: str | None) -> None:
        self.loaded = name
        self.refresh()

    def _picked(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name:
            self.loadRequested.emit(name)

    # ------------------------------------------------------------------ actions

    def _settings_named(self, name: str, description: str) -> Preset:
        settings = self.session.settings
        entry = self.library.entries.get(self.loaded) if self.loaded else None
        # a rationale explains the numbers it came with: changed numbers do not inherit it
        same = entry is not None and self.session.core.on_screen(entry.preset).stimulus_equal(settings)
        return settings.with_(name=name, description=description, rationale=settings.rationale if same else "")

    def save(self) -> None:
        entry = self.library.entries.get(self.loaded) if self.loaded else None
        if entry is None or entry.builtin:
            note = (f"“{entry.name}” is a built-in preset and stays as it is. Save your settings as a new preset:"
                    if entry is not None else "")
            self.save_as(note)
            return
        preset = self._settings_named(entry.preset.name, entry.preset.description).with_(
            rationale=entry.preset.rationale)
        self._do(lambda: self.library.save(preset, overwrite=True, entry=entry.name), f"Saved “{preset.name}”.",
                 entry.name)

    def save_as(self, note: str = "") -> None:
        entry = self.library.entries.get(self.loaded) if self.loaded else None
        default = f"{entry.name} (my version)" if entry is not None and entry.builtin else (
            entry.name if entry else "")
        description = entry.preset.description if entry else ""
        if entry is not None and entry.builtin and not self.session.core.on_screen(entry.preset).stimulus_equal(
                self.session.settings):
            description = ""  # the built-in's words describe its own numbers, not the changed ones
        while True:
            answer = self.ask.details("Save preset as", note, default, description)
            if answer is None:
                return
            name, description = answer
            try:
                name = check_name(name)
            except LibraryError as exc:
                self.ask.tell("Save preset", _sentence(str(exc)) + ".")
                default = name
                continue
            existing = self.library.entries.get(name)
            if existing is not None and existing.builtin:
                note = f"“{name}” is a built-in preset and cannot be replaced. Choose another name:"
                default = f"{name} (my version)"
                continue
            if existing is not None and not self.ask.confirm(
                    "Replace preset", f"A preset named “{name}” exists. Replace it with the current settings? "
                                      "(The previous version is kept as a backup file.)"):
                default = name
                continue
            preset = self._settings_named(name, description)
            self._do(lambda: self.library.save(preset, overwrite=existing is not None), f"Saved “{name}”.", name)
            return

    def rename(self) -> None:
        old = self.loaded
        while old:
            answer = self.ask.details("Rename preset", "", old, self.library.get(old).description)
            if answer is None:
                return
            new = answer[0]
            try:
                self.library.rename(old, new)
                if answer[1] != self.library.get(check_name(new)).description:
                    p = self.library.get(check_name(new))
                    self.library.save(p.with_(description=answer[1]), overwrite=True)
            except (LibraryError, OSError) as exc:
                self.ask.tell("Rename preset", _sentence(str(exc)) + ".")
                continue
            self.message.emit(f"Renamed “{old}” to “{check_name(new)}”.")
            self.loadRequested.emit(check_name(new))
            return

    def duplicate(self) -> None:
        src = self.loaded
        if not src:
            return
        default = f"{src} copy"
        while True:
            answer = self.ask.details("Duplicate preset", "", default, self.library.get(src).description)
            if answer is None:
                return
            try:
                name = check_name(answer[0])
                self.library.save(self.library.get(src).with_(name=name, description=answer[1]))
            except (LibraryError, OSError) as exc:
                self.ask.tell("Duplicate preset", _sentence(str(exc)) + ".")
                default = answer[0]
                continue
            self.message.emit(f"Duplicated “{src}” as “{name}”.")
            self.loadRequested.emit(name)
            return

    def delete(self) -> None:
        name = self.loaded
        if not name:
            return
        try:
            trashed = self.library.delete(name)
        except (LibraryError, OSError) as exc:
            self.ask.tell("Delete preset", _sentence(str(exc)) + ".")
            return
        self._trashed = (name, trashed)
        self.loaded = None  # the live settings stay as they are, now unsaved
        self.refresh()
        self.undo_label.setText(f"Deleted “{name}”.")
        self.undo_row.show()
        self._undo_timer.start()

    def undo_delete(self) -> None:
        if self._trashed is None:
            return
        name, trashed = self._trashed
        self._trashed = None
        self.undo_row.hide()
        try:
            self.library.undelete(trashed)
        except OSError as exc:
            self.ask.tell("Undo delete", f"The preset could not be restored: {exc}. It is still in {trashed}.")
            return
        self.message.emit(f"Restored “{name}”.")
        if name in self.library:
            self.set_loaded(name)
        else:
            self.refresh()

    def import_(self) -> None:
        path = self.ask.open_file("Import a preset")
        if not path:
            return
        name = description = None
        while True:
            try:
                preset, problems = self.library.import_file(Path(path), name, description)
            except LibraryError as exc:
                text = str(exc)
                if "already exists" not in text:
                    said = "\n".join(f"• {p.for_people(with_file=False)}" for p in exc.problems) or text
                    self.ask.tell("Import preset", f"{Path(path).name} cannot be imported:\n\n{said}\n\n"
                                  "Nothing was added; the file is left as it is.")
                    return
                peek_name, peek_description = self._peek(path)
                answer = self.ask.details("Import preset", _sentence(text) + ".",
                                          f"{name or peek_name} (imported)",
                                          peek_description if description is None else description, ok="Import")
                if answer is None:
                    return
                name, description = answer
                continue
            except OSError as exc:
                self.ask.tell("Import preset", f"{Path(path).name} cannot be imported: {exc}")
                return
            notes = "".join(f"\n• {p.for_people(with_file=False)}" for p in problems)
            if problems:
                self.ask.tell("Import preset", f"Imported “{preset.name}”, with notes:\n{notes}\n\n"
                              "A setting that was not recognised keeps bls's default value.")
            self.message.emit(f"Imported “{preset.name}”.")
            self.loadRequested.emit(preset.name)
            return

    @staticmethod
    def _peek(path: str) -> tuple[str, str]:
        """The name and description a valid preset file gives itself (the file's name otherwise)."""
        preset, _ = load_preset_file(Path(path))
        return (preset.name, preset.description) if preset is not None else (Path(path).stem, "")

    def export(self) -> None:
        name = self.loaded
        if not name:
            return
        path = self.ask.save_file("Export preset", f"{file_stem(name)}.yaml")
        if not path:
            return
        try:
            target = self.library.export(name, Path(path), force=True)  # the file dialog asked before replacing
        except LibraryError as exc:
            self.ask.tell("Export preset", f"Could not write {path}: {exc}")
            return
        except OSError as exc:
            self.ask.tell("Export preset", f"Could not write {path}: {exc.strerror or exc}")
            return
        self.message.emit(f"Exported “{name}” to {target}.")

    def revert(self) -> None:
        if self.loaded:
            self.loadRequested.emit(self.loaded)

    def show_problems(self) -> None:
        text = "\n".join(f"• {p.for_people()}" for p in self.library.problems)
        folders = ", ".join(sorted({str(Path(p.source).parent) for p in self.library.problems}))
        self.ask.tell("Preset files", f"These preset files need a look (in {folders}). They were left exactly as "
                      "they are.\n\n" + text)

    def _do(self, action, ok: str, load: str) -> None:
        try:
            action()
        except (LibraryError, OSError) as exc:
            self.ask.tell("Save preset", f"The preset was not saved: {exc}")
            return
        self.message.emit(ok)
        self.loadRequested.emit(load)
