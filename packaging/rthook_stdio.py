# PyInstaller runtime hook: a windowed program on Windows starts with sys.stdout/stderr/stdin None, and
# bls prints its status to stderr. Use what the parent handed over (a pipe or a file: a test, a script)
# where there is one, else the null device, so that no print fails.
import os
import sys

for _name, _fd, _mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
    if getattr(sys, _name) is None:
        try:
            _stream = open(_fd, _mode, errors="backslashreplace", closefd=False)  # the locale's, as Python's own
        except (OSError, ValueError):
            _stream = open(os.devnull, _mode, encoding="utf-8")
        setattr(sys, _name, _stream)
        if _name != "stdin":
            setattr(sys, "__" + _name + "__", _stream)
