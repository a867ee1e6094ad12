"""Platform services behind small interfaces, one module per concern.

Each module offers one interface, an implementation per system (POSIX/Linux, Windows, macOS) and a
factory that picks one from ``sys.platform`` at run time. Nothing system-specific is imported or loaded
when a module is imported, so every module imports on every system; each implementation takes its
system calls as injectable callables so its logic is tested with the platform simulated.

Modules: :mod:`~bls.platform.screen_sleep` (keeping the client's screen awake), :mod:`~bls.platform.signals`
(signals and console events ending the session), :mod:`~bls.platform.files` (file modes and safe writes),
:mod:`~bls.platform.folders` (where settings and records go). No other bls module imports a system-only
module (``fcntl``, ``termios``, ``pwd``, ``msvcrt``, ``winreg``, ...) at import time
(tests/unit/test_platform_imports.py).
"""
