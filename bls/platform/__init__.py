"""Platform services behind small interfaces, one module per concern.

Each module offers one interface, an implementation per system (POSIX/Linux, Windows, macOS) and a
factory that picks one from ``sys.platform`` at run time. Nothing system-specific is imported or loaded
when a module is imported, so every module imports on every system; each implementation takes its
system calls as injectable callables so its logic is tested with the platform simulated.
"""
