"""The preset library: read-only built-ins plus the user's own presets, never lost.

- Built-ins are package data and cannot be overwritten: saving one asks for a new name.
- User presets live in ``user_presets_dir()`` (``$BLS_CONFIG_DIR/presets`` overrides it), one YAML
  file each.
- A file that fails to load is reported (file, line, field, value, allowed range) and left exactly
  as it is: never overwritten, renamed or deleted because it failed.
- Saves are atomic (:func:`bls.core.atomic.atomic_write`: a temporary file in the same folder, fsync,
  ``os.replace``) and keep the previous version as ``NAME.yaml.bak``: at every moment the preset file holds either the old or the new
  version, never a truncated one.
- Two presets with the same name are both kept and both listed; the later one is shown with its
  file name, and the therapist is told.
- Deleting moves the file to a ``.trash`` folder, so a delete can be undone; the trash keeps the
  last :data:`TRASH_KEEP` files (the oldest go first), and temporary files of bls's own pattern
  (``.NAME.<hex>.tmp``) left by a crash more than a day ago are removed when the library starts.
- Exports replace only a regular file, and only when asked (``force``); they never create folders.
- The folders are read once (and again on :meth:`PresetLibrary.reload`); a save, rename, duplicate,
  delete, undelete or import updates the in-memory index with the one file it wrote, moved or
  restored, so it takes milliseconds however many presets there are, and the list is always what a
  fresh read would give.
- Names are read as they are saved (:func:`bls.core.preset.tidy_name`); a user preset whose name looks
  like a built-in's ("ѕtandard" with a Cyrillic ѕ) is listed with its file name, and such a name is
  refused on save (:func:`check_name`).
- Nothing outside the schema is ever written (5 cycles/s, -3 dBFS), and a gentle preset is written
  only inside the gentle envelope: unlocks belong to a session and are never saved. A refused save
  writes nothing and says every reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from .atomic import atomic_write, check_target  # noqa: F401 - also re-exported: it used to live here
from .paths import builtin_presets_dir, user_presets_dir
from .gentle import violations as gentle_violations
from .preset import (NAME_MAX, SETTINGS_SOURCE, Preset, Problem, control_character, dump_preset, invisible_character,
                     load_preset_file, parse_preset_text, schema_problems, without_invisible)

BUILTIN_ORDER = ("standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed")
TRASH_KEEP = 50  # files kept in .trash; the oldest are removed first
TEMP_MAX_AGE_S = 24 * 3600.0  # a temporary file of bls's own older than this is a crash's leftover
_TEMP_RE = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")  # bls.core.atomic's temporary files
_TRASH_RE = re.compile(r"\d{8}-\d{6}-\d{6}__.+")  # what _to_trash names its files


class LibraryError(Exception):
    """An operation the therapist asked for cannot be done; the message says why (and ``problems``
    lists what is wrong with a file, when that is the reason)."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Entry:
    name: str  # the name shown (unique in the library)
    preset: Preset
    path: Path
    builtin: bool


#: letters of other scripts (and dashes) that look like Latin ones, case by case: a small table of the
#: common ones (after Unicode TR 39's confusables), enough to tell "ѕtandard" (Cyrillic ѕ) from "standard"
_LOOK_ALIKES = str.maketrans({
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Һ": "H", "Ӏ": "I", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y",
    "Ԁ": "D", "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ѵ": "v", "г": "r",
    # small capitals and other Latin letters that pass for lower case ones
    "ꜱ": "s", "ʀ": "r", "ᴅ": "d", "ɴ": "n", "ᴛ": "t", "ᴏ": "o", "ᴄ": "c", "ᴇ": "e", "ɢ": "g", "ᴡ": "w",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "η": "n",
    # Armenian, and Latin letters that pass for others
    "ո": "n", "օ": "o", "ս": "u", "հ": "h", "ı": "i", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʟ": "L",
    # dashes and minus signs that pass for a hyphen
    "‐": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "⁃": "-",
})


def name_skeleton(name: str) -> str:
    """What a name looks like, roughly: compatibility forms folded (NFKC: full-width letters, ligatures),
    invisible characters dropped, common look-alike letters of other scripts mapped to Latin, case
    folded, white space collapsed. Two names with the same skeleton can be mistaken for each other."""
    text = without_invisible(unicodedata.normalize("NFKC", name))
    text = text.translate(_LOOK_ALIKES).casefold()
    # a capital I passes for a small l ("sIow") as much as for an i: l and i count as one letter
    return " ".join(unicodedata.normalize("NFKC", text).replace("l", "i").split())


def builtin_look_alike(name: str, builtins=BUILTIN_ORDER) -> str | None:
    """The built-in name ``name`` can be mistaken for ("ѕtandard", "Standard", "standard\u200b" for
    "standard"), or None; a name that *is* a built-in's is not a look-alike of it."""
    skeleton = name_skeleton(name)
    return next((b for b in builtins if b != name and name_skeleton(b) == skeleton), None)


def check_name(name: str, builtins=BUILTIN_ORDER) -> str:
    """A clean preset name (Unicode NFC, single spaces), or LibraryError saying what is wrong with it:
    empty, too long, a path character, a control or invisible character, or a look-alike of a built-in
    name (``builtins``)."""
    if not isinstance(name, str) or not name.strip():
        raise LibraryError("a preset needs a name")
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    if len(name) > NAME_MAX:
        raise LibraryError(f"the name is too long ({len(name)} characters; at most {NAME_MAX})")
    if any(c in name for c in "/\\:"):
        raise LibraryError("a name cannot contain “/”, “\\” or “:”")
    if (bad := control_character(name)) is not None:
        raise LibraryError(f"a name cannot contain control characters (U+{ord(bad):04X})")
    if (bad := invisible_character(name)) is not None:
        raise LibraryError(f"a name cannot contain invisible characters (U+{ord(bad):04X}, which shows nothing): "
                           "type it again without it")
    if (builtin := builtin_look_alike(name, builtins)) is not None:
        raise LibraryError(f"{name!r} looks like the built-in preset {builtin!r}: choose a name that cannot be "
                           "mistaken for it")
    return name


def check_writable(preset: Preset) -> None:
    """LibraryError, listing every reason in words, unless ``preset`` may be written: every setting
    inside the schema, and a gentle preset inside the gentle envelope."""
    problems = schema_problems(preset)
    if problems:
        said = "; ".join(p.for_people(with_file=False) for p in problems)
        raise LibraryError(f"cannot save {preset.name!r}: {said}", problems)
    beyond = gentle_violations(preset) if preset.gentle else []
    if beyond:
        raise LibraryError(
            "a gentle preset stays inside the gentle limits (unlocks hold for one session only): "
            + "; ".join(str(v) for v in beyond)
            + ". Bring it inside the limits, or untick gentle mode to save it as a preset that is not gentle.",
            [Problem(SETTINGS_SOURCE, v.field, str(v)) for v in beyond])


#: replaced in file names: characters Windows does not allow (and path separators everywhere)
_NOT_IN_FILE_NAMES = set('<>:"/\\|?*')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
STEM_MAX = 80


def file_stem(name: str) -> str:
    """A safe, readable file name (without ``.yaml``) for a preset name, in any script.

    NFC, lower case, runs of white space as "-"; letters of every script are kept (Greek, Cyrillic,
    CJK names keep their own file names). Only path separators, control characters and the
    characters Windows does not allow in file names (``<>:"/\\|?*``) are replaced, and dots and
    dashes at the ends removed. Whenever that loses anything beyond case and spacing (or leaves
    nothing, or a name Windows reserves), a short hash of the name is added, so two such names
    never share a stem; names that differ only in case or spacing share one, and the library gives
    the second file -2 (a save) or refuses to replace the first (an export).
    """
    name = unicodedata.normalize("NFC", " ".join(str(name).split()))
    kept = "".join("-" if (c in _NOT_IN_FILE_NAMES or unicodedata.category(c)[0] == "C") else c for c in name)
    lossy = kept != name
    stem = re.sub(r"-{2,}", "-", re.sub(r"\s+", "-", kept.lower()))
    trimmed = stem.strip("-. ")
    lossy = lossy or trimmed != stem  # dots and dashes at the ends (".hidden" is not "hidden")
    if len(trimmed) > STEM_MAX:
        trimmed, lossy = trimmed[:STEM_MAX].rstrip("-. "), True
    if not trimmed or trimmed.split(".")[0] in _RESERVED:
        trimmed, lossy = (trimmed or "preset"), True
    if lossy:
        trimmed += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return trimmed


def _listed_as(e: Entry, entries: dict[str, Entry]) -> str:
    """The name a user preset is listed under when its own is taken or looks like a built-in's:
    "name (file.yaml)", never a name already listed (so no entry hides another)."""
    shown, n = f"{e.name} ({e.path.name})", 2
    while shown in entries:
        shown, n = f"{e.name} ({e.path.name}, {n})", n + 1
    return shown


class PresetLibrary:
    def __init__(self, user_dir: Path | None = None, builtin_dir: Path | None = None):
        self.user_dir = Path(user_dir) if user_dir is not None else user_presets_dir()
        self.builtin_dir = Path(builtin_dir) if builtin_dir is not None else builtin_presets_dir()
        self.entries: dict[str, Entry] = {}
        self.problems: list[Problem] = []
        #: the index: for each preset file (built-in: True, the user's: False), what loading it gave
        self._files: dict[bool, dict[Path, tuple[Preset | None, list[Problem]]]] = {True: {}, False: {}}
        self.tidy()
        self.reload()

    # ------------------------------------------------------------------ reading

    def reload(self) -> list[Problem]:
        """Read both folders afresh (e.g. when the user's folder was changed by hand or by another
        program); returns the problems found. Saves, renames, deletes and imports do not re-read: they
        update the in-memory index with the one file they wrote, moved or restored."""
        self._files = {True: self._read(self.builtin_dir), False: self._read(self.user_dir)}
        return self._rebuild()

    @staticmethod
    def _read(directory: Path) -> dict[Path, tuple[Preset | None, list[Problem]]]:
        """Every ``*.yaml`` file of ``directory``: what loading it gave (the preset or None, problems)."""
        if not directory.is_dir():
            return {}
        return {path: load_preset_file(path) for path in sorted(directory.glob("*.yaml"))}

    def _rebuild(self) -> list[Problem]:
        """``entries`` and ``problems`` from the index of files (no file is read): built-ins first, in
        clinical order, then the user's presets by name; a twin or a look-alike of a built-in is listed
        as "name (file.yaml)", with a note."""
        entries: dict[str, Entry] = {}
        problems: list[Problem] = []
        found: dict[bool, list[Entry]] = {}
        for builtin in (True, False):
            found[builtin] = []
            for path, (preset, probs) in sorted(self._files[builtin].items()):
                problems.extend(probs)
                if preset is not None:
                    found[builtin].append(Entry(preset.name, preset, path, builtin))
        for e in sorted(found[True], key=lambda e: (BUILTIN_ORDER.index(e.name) if e.name in BUILTIN_ORDER
                                                     else 99, e.name)):
            entries[e.name] = e
        builtin_names = self._builtin_names(entries)
        skeletons = {name_skeleton(b): b for b in reversed(builtin_names)}
        for e in sorted(found[False], key=lambda e: e.name.lower()):
            look_alike = skeletons.get(name_skeleton(e.name))
            if e.name in entries or look_alike is not None:
                shown = _listed_as(e, entries)
                if e.name in entries:
                    other = entries[e.name]
                    said = (f"{e.name!r} is also the name of " + ("a built-in preset" if other.builtin
                                                                   else other.path.name)
                            + f"; this one is listed as {shown!r}. Rename one of them to tidy up.")
                else:
                    said = (f"{e.name!r} looks like the built-in {look_alike!r}: listed as {shown!r}. Rename it "
                            "so that the two cannot be mistaken for each other.")
                problems.append(Problem(str(e.path), "name", said, severity="warning"))
                e = replace(e, name=shown)
            entries[e.name] = e
        self.entries, self.problems = entries, problems
        return problems

    def _wrote(self, path: Path, text: str) -> None:
        """The index learns what was just written to ``path`` (parsed from the text in memory: the same
        preset and notes a fresh read of the file gives)."""
        self._files[False][path] = parse_preset_text(text, str(path))

    @staticmethod
    def _builtin_names(entries: dict[str, Entry]) -> tuple[str, ...]:
        """The names a user preset may not look like: the shipped built-ins and those of this library."""
        return tuple(dict.fromkeys(BUILTIN_ORDER + tuple(n for n, e in entries.items() if e.builtin)))

    def names(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def get(self, name: str) -> Preset:
        try:
            return self.entries[name].preset
        except KeyError:
            raise KeyError(f"no preset named {name!r}; available: {', '.join(self.entries)}") from None

    def is_builtin(self, name: str) -> bool:
        return name in self.entries and self.entries[name].builtin

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    # ------------------------------------------------------------------ writing

    def _path_for(self, name: str) -> Path:
        """A new file for a preset: never an existing file (not even a broken one)."""
        stem = file_stem(name)
        path, n = self.user_dir / f"{stem}.yaml", 2
        while path.exists():
            path, n = self.user_dir / f"{stem}-{n}.yaml", n + 1
        return path

    def save(self, preset: Preset, overwrite: bool = False, entry: str | None = None) -> Path:
        """Save a user preset under ``preset.name``. Refuses built-in names, and existing names
        unless ``overwrite`` (Save on the loaded preset). ``entry`` names the library entry being
        saved when it differs from the preset's name (a duplicate listed as "name (file.yaml)")."""
        name = check_name(preset.name, self._builtin_names(self.entries))
        preset = replace(preset, name=name)
        existing = self.entries.get(entry if entry is not None else name)
        if existing is not None and existing.builtin:
            raise LibraryError(f"{name!r} is a built-in preset and cannot be changed: save it under a new name")
        if existing is not None and not overwrite:
            raise LibraryError(f"a preset named {name!r} already exists")
        check_writable(preset)
        path = existing.path if existing is not None else self._path_for(name)
        text = dump_preset(preset)
        atomic_write(path, text, backup=True)
        self._wrote(path, text)
        self._rebuild()
        return path

    def rename(self, old: str, new: str) -> Path:
        entry = self._user_entry(old, "renamed")
        new = check_name(new, self._builtin_names(self.entries))
        if new == old:
            return entry.path
        if new in self.entries:
            raise LibraryError(f"a preset named {new!r} already exists")
        preset = replace(entry.preset, name=new)
        check_writable(preset)
        path = self._path_for(new)
        text = dump_preset(preset)
        atomic_write(path, text, backup=False)
        try:
            self._wrote(path, text)
            if path != entry.path:
                self._to_trash(entry.path)
        finally:
            self._rebuild()  # a failed move to the trash leaves both files, both listed
        return path

    def duplicate(self, name: str, new: str) -> Path:
        preset = self.get(name)
        return self.save(replace(preset, name=check_name(new, self._builtin_names(self.entries))))

    def delete(self, name: str) -> Path:
        """Move a user preset to the trash; returns the trashed file (for undo)."""
        entry = self._user_entry(name, "deleted")
        trashed = self._to_trash(entry.path)
        self._rebuild()
        return trashed

    def undelete(self, trashed: Path) -> Path:
        trashed = Path(trashed)
        original = trashed.name.split("__", 1)[1] if "__" in trashed.name else trashed.name
        target = self.user_dir / original
        if target.exists():
            stem = target.stem
            n = 2
            while target.exists():
                target = self.user_dir / f"{stem}-{n}.yaml"
                n += 1
        os.replace(trashed, target)
        self._files[False][target] = load_preset_file(target)  # the one file restored, read as it is
        self._rebuild()
        return target

    def _user_entry(self, name: str, what: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            raise LibraryError(f"no preset named {name!r}")
        if entry.builtin:
            raise LibraryError(f"{name!r} is a built-in preset and cannot be {what}")
        return entry

    def _to_trash(self, path: Path) -> Path:
        trash = self.user_dir / ".trash"
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6:06d}__{path.name}"
        os.replace(path, target)
        self._files[False].pop(path, None)
        try:
            os.utime(target)  # its time in the trash counts from now (the file kept its last save's time)
        except OSError:
            pass
        self._prune_trash(keep={target})
        return target

    # ------------------------------------------------------------------ leftovers

    def tidy(self, now: float | None = None) -> None:
        """Remove what bls itself left behind: its temporary files (``.NAME.<hex>.tmp``) older than a
        day in the presets folder, and all but the newest :data:`TRASH_KEEP` files in ``.trash``.
        Only regular files of bls's own patterns are touched (never a link, a folder or anything
        else); a file that cannot be removed is left."""
        now = time.time() if now is None else now
        for path, st in self._own_files(self.user_dir, _TEMP_RE):
            if now - st.st_mtime > TEMP_MAX_AGE_S:
                _remove(path)
        self._prune_trash()

    def _prune_trash(self, keep: set[Path] | frozenset = frozenset()) -> None:
        files = sorted(self._own_files(self.user_dir / ".trash", _TRASH_RE), key=lambda f: (f[1].st_mtime, f[0].name))
        excess = len(files) - TRASH_KEEP
        for path, _ in files:
            if excess <= 0:
                break
            if path not in keep:
                _remove(path)
                excess -= 1

    @staticmethod
    def _own_files(directory: Path, pattern: re.Pattern) -> list[tuple[Path, os.stat_result]]:
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        out = []
        for n in names:
            if not pattern.fullmatch(n):
                continue
            try:
                st = os.lstat(directory / n)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((directory / n, st))
        return out

    # ------------------------------------------------------------------ exchange

    def import_file(self, source: Path, name: str | None = None, description: str | None = None,
                    ) -> tuple[Preset, list[Problem]]:
        """Validate a preset file and add it to the user presets (under ``name`` if given).

        Raises LibraryError with every problem if the file is invalid, or if the name is taken.
        """
        preset, problems = load_preset_file(Path(source))
        if preset is None:
            raise LibraryError("\n".join(str(p) for p in problems), problems)
        if name is not None:
            preset = replace(preset, name=check_name(name, self._builtin_names(self.entries)))
        if description is not None:
            preset = replace(preset, description=description)
        if preset.name in self.entries:
            raise LibraryError(f"a preset named {preset.name!r} already exists: import it under another name")
        self.save(preset)
        return preset, problems

    def export(self, name: str, target: str | os.PathLike, force: bool = False) -> Path:
        """Write preset ``name`` to the file ``target`` (or, for an existing folder, to a file in it
        named after the preset). Never creates a folder; replaces only a regular file, and only with
        ``force``. LibraryError (or WriteRefused, an OSError) says why not."""
        if not str(target).strip():
            raise LibraryError("give a file name to export to")
        as_folder = str(target).endswith(("/", os.sep))
        target = Path(target)
        if as_folder or target.is_dir() or target.name in ("", ".", ".."):
            if not target.is_dir():
                raise LibraryError(f"the folder {target} does not exist: create it first, or give another one")
            target = target / f"{file_stem(name)}.yaml"
        folder = target.parent
        if not folder.is_dir():
            raise LibraryError(f"the folder {folder} does not exist: create it first, or give another one")
        preset = self.get(name)
        check_writable(preset)
        check_target(target)  # a link, a folder or a device is refused before anything else
        if not force and os.path.lexists(target):
            raise LibraryError(f"{target} already exists and was not replaced: use --force to replace it, "
                               "or give another file name")
        try:
            atomic_write(target, dump_preset(preset), backup=False, overwrite=force, make_dirs=False)
        except FileExistsError:
            raise LibraryError(f"{target} already exists and was not replaced: use --force to replace it, "
                               "or give another file name") from None
        return target


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
