"""Importing a plugin first in a child process, so that its faults stay there.

A plugin's code is run in the application's process only once a child process has imported
and registered it without fault. The child is the same program with the hidden command
``medxai plugins _validate NAME`` (``python -m medxai_desktop.cli ...`` from source, the frozen
executable itself in the bundle: packaging/launcher.py sends that command to the CLI from
either executable). The child gets ``MEDXAI_PLUGIN_CHECK_SECONDS`` (default 20) seconds; one
that loops, or is killed (a plugin calling ``os.kill``, a crash in native code), marks the
plugin broken with a one-line reason, and only the last ``OUTPUT_TAIL_BYTES`` of what it prints
are kept (a plugin printing megabytes floods nothing). The result is recorded with the plugin's
files' fingerprint (:func:`.state.record_check`) and reused until those files change or the
plugin is enabled again.

The application's own ``plugins/`` folder is part of the application (built and tested with it:
packaging/smoke) and is imported without a child.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from .declaration import PluginInfo
from .discovery import bundled_plugins_dir

TIME_LIMIT_VARIABLE = "MEDXAI_PLUGIN_CHECK_SECONDS"
DEFAULT_TIME_LIMIT_S = 20.0
OUTPUT_TAIL_BYTES = 16 * 1024
RESULT_MARK = "medxai-plugin-check:"
_REASON_MAX = 300


def needs_child(info: PluginInfo) -> bool:
    """False for the application's own plugins."""
    if info.path is None:
        return True
    try:
        return bundled_plugins_dir().resolve() not in info.path.resolve().parents
    except OSError:
        return True


def fingerprint(info: PluginInfo) -> str:
    """Changes when the plugin's code or version changes (its files' sizes and times)."""
    if info.path is None:
        return f"{info.source} {info.version}"
    files = sorted(info.path.parent.rglob("*.py")) if info.path.name == "__init__.py" else [info.path]
    parts = [str(info.path), info.version]
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return " ".join(parts)


def time_limit_s() -> float:
    try:
        value = float(os.environ.get(TIME_LIMIT_VARIABLE, DEFAULT_TIME_LIMIT_S))
    except ValueError:
        return DEFAULT_TIME_LIMIT_S
    return value if value > 0 else DEFAULT_TIME_LIMIT_S


def child_command(name: str) -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, "plugins", "_validate", name]
    return [sys.executable, "-m", "medxai_desktop.cli", "plugins", "_validate", name]


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    if not getattr(sys, "frozen", False):
        # the child finds what this process finds (an entry point's distribution, this checkout)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.pop("MEDXAI_DEBUG", None)
    return env


class _Tail:
    """Reads a pipe to its end, keeping only the last ``OUTPUT_TAIL_BYTES``."""

    def __init__(self, stream):
        self.data = bytearray()
        self._stream = stream
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while chunk := self._stream.read1(65536) if hasattr(self._stream, "read1") else self._stream.read(65536):
            self.data += chunk
            del self.data[:-OUTPUT_TAIL_BYTES]

    def lines(self) -> list[str]:
        return bytes(self.data).decode("utf-8", "replace").splitlines()


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)   # the plugin's own children too
        else:
            process.kill()
    except OSError:
        pass


def check_in_child(info: PluginInfo) -> str:
    """'' when a child process imported and registered the plugin, else why not (one line)."""
    limit = time_limit_s()
    try:
        process = subprocess.Popen(child_command(info.name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=_child_environment(),
                                   start_new_session=os.name == "posix")
    except OSError as exc:
        return f"cannot start a process to import it ({exc})"
    tail = _Tail(process.stdout)
    try:
        process.wait(timeout=limit)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        process.wait()
    finally:
        tail.thread.join(timeout=5)
        process.stdout.close()
    if timed_out:
        return f"its import did not finish within {limit:g} s (${TIME_LIMIT_VARIABLE} sets the limit)"
    return _verdict(process.returncode, tail.lines())


def _verdict(returncode: int, lines: list[str]) -> str:
    marks = [line[len(RESULT_MARK):].strip() for line in lines if line.startswith(RESULT_MARK)]
    if returncode == 0 and marks and marks[-1] == "ok":
        return ""
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"its import was killed by signal {-returncode}{name}"
    if marks and marks[-1].startswith("error "):
        return marks[-1][len("error "):][:_REASON_MAX]
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return (f"its import ended the process (exit code {returncode})"
            + (f"; last output: {last[:_REASON_MAX]}" if last else ""))
