"""Entry point of the frozen application. ``medxai-desktop`` (the GUI) and ``medxai`` (the CLI)
are two executables built from this one script; each looks at its own name. Either runs the
hidden ``plugins _validate NAME`` command (the child process that imports a plugin first:
medxai_desktop.core.plugins.check), since either may be the program that starts that child."""
import multiprocessing
import sys
from pathlib import Path


def main() -> int:
    multiprocessing.freeze_support()
    program = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).stem.lower()
    if program == "medxai" or sys.argv[1:3] == ["plugins", "_validate"]:
        from medxai_desktop.cli import main as cli

        return cli()
    from medxai_desktop.app.main import main as gui

    return gui()


if __name__ == "__main__":
    sys.exit(main())
