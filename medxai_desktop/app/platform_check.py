"""Before Qt starts on X11: are the system libraries of Qt's xcb platform plugin there? Without
them Qt aborts with "could not load the Qt platform plugin xcb"; we name the missing libraries
and the Debian packages that hold them instead (Linux only; nothing is loaded to find out)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> Debian package (Qt 6's xcb plugin and what it loads directly). README lists them too.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-render.so.0": "libxcb-render0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0", "libdbus-1.so.3": "libdbus-1-3",
}


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin of the PySide6 in use (a venv or the frozen bundle)."""
    try:
        import PySide6   # the package only: no Qt library is loaded by this import
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_sonames(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as "not found"."""
    return sorted({line.split("=>")[0].strip() for line in ldd_output.splitlines() if "not found" in line})


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    return chosen.startswith("xcb") or (not chosen and bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY"))


def problem(environ=os.environ) -> str | None:
    """One message naming the missing libraries and packages, or None when Qt can start."""
    plugin = xcb_plugin() if uses_xcb(environ) else None
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        output = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    missing = missing_sonames(output)
    if not missing:
        return None
    packages = sorted({DEBIAN_PACKAGES.get(name, "?") for name in missing} - {"?"})
    hint = f"; on Debian/Ubuntu: sudo apt-get install {' '.join(packages)}" if packages else ""
    return (f"medxai-desktop: Qt's X11 platform plugin cannot start: missing system "
            f"libraries {', '.join(missing)}{hint} (README: System libraries)")
