"""The bundle's entry point: ``bls`` as the console script runs it (the app, or a subcommand).

In the bundle ``sys.executable`` is this program, not a Python: bls.audio.output lists the sound outputs
in a short-lived child, ``sys.executable -c CODE``, so ``-c CODE`` runs CODE here as python would.
"""

import sys


def _run_code(code: str) -> None:
    sys.argv = ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})


if __name__ == "__main__":
    if getattr(sys, "frozen", False) and len(sys.argv) >= 3 and sys.argv[1] == "-c":
        _run_code(sys.argv[2])
        sys.exit(0)
    from bls.cli import main

    sys.exit(main())
