"""Qt-free guards used by ``cxrviewer --self-test``: no network, no stray files.

``NetworkGuard`` installs a Python audit hook (PEP 578) as the very first thing the self-test does, before
onnxruntime, Qt or pydicom are imported. Every socket created, connected, bound or resolved from Python, and every
``urllib`` request, is recorded and refused (the call raises ``PermissionError``). Native code that opens a
socket without going through Python is caught afterwards on Linux by ``open_inet_sockets()``, which lists
this process's IPv4/IPv6 sockets from /proc. Audit hooks cannot be removed; ``stop()`` only disarms it.

``FileSnapshot`` lists every file under some folders (name, size, mtime) so the self-test can prove that a
run wrote nothing there.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

# Audit events that mean "this process is trying to use the network".
NETWORK_EVENTS = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "webbrowser.open",
    }
)
# Audit events recorded for the report but allowed: they start programs (which could reach the network).
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile"})


class NetworkBlockedError(PermissionError):
    """Raised by the audit hook instead of letting the process touch the network."""


@dataclass
class NetworkGuard:
    attempts: list[dict] = field(default_factory=list)
    processes: list[dict] = field(default_factory=list)
    armed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> NetworkGuard:
        self.armed = True
        sys.addaudithook(self._hook)
        return self

    def stop(self) -> None:
        self.armed = False

    def _hook(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event in NETWORK_EVENTS:
            entry = {"event": event, "args": _short(args), "thread": threading.current_thread().name}
            with self._lock:
                self.attempts.append(entry)
            raise NetworkBlockedError(f"network access refused by the self-test: {event}{_short(args)}")
        if event in PROCESS_EVENTS:
            with self._lock:
                self.processes.append({"event": event, "args": _short(args)})


def _short(args: tuple, limit: int = 200) -> str:
    try:
        text = repr(tuple(a for a in args if not hasattr(a, "fileno")))
    except Exception:  # noqa: BLE001 - a repr must never break the hook
        text = "<unprintable>"
    return text[:limit]


def open_inet_sockets() -> list[str] | None:
    """IPv4/IPv6 sockets this process holds (Linux /proc), or None where that cannot be read."""
    tables = [Path("/proc/self/net") / name for name in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6")]
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir() or not any(t.exists() for t in tables):
        return None
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in inodes:
                found.append(f"{table.name} local={parts[1]} remote={parts[2]} inode={parts[9]}")
    return found


class FileSnapshot:
    """Every file under ``roots`` with size and mtime; skips the ``ignore`` folders and folders named in
    ``skip_names``. ``recursive=False`` looks at the roots' own entries only (for a working directory that
    may be a home folder)."""

    def __init__(
        self,
        roots: list[Path],
        ignore: list[Path] | None = None,
        recursive: bool = True,
        skip_names: set[str] | frozenset[str] = frozenset(),
        limit: int = 200_000,
    ):
        self.roots = [Path(r).resolve() for r in roots if Path(r).exists()]
        self.ignore = {Path(p).resolve() for p in (ignore or [])}
        self.recursive = recursive
        self.skip_names = set(skip_names)
        self.limit = limit
        self.truncated = False
        self.files = self._scan()

    def _scan(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        for root in self.roots:
            for folder, dirs, names in os.walk(root):
                here = Path(folder)
                if not self.recursive:
                    names = names + dirs  # a new folder in the working directory counts too
                    dirs[:] = []
                dirs[:] = [d for d in dirs if d not in self.skip_names and (here / d).resolve() not in self.ignore]
                for name in names:
                    path = here / name
                    if path.resolve() in self.ignore:
                        continue
                    try:
                        st = path.lstat()
                    except OSError:
                        continue
                    files[str(path)] = (st.st_size, 0 if path.is_dir() else st.st_mtime_ns)
                    if len(files) >= self.limit:
                        self.truncated = True
                        return files
        return files

    def changes(self) -> dict[str, list[str]]:
        """Files created, modified or deleted since the snapshot was taken."""
        after = self._scan()
        return {
            "created": sorted(set(after) - set(self.files)),
            "modified": sorted(p for p in set(after) & set(self.files) if after[p] != self.files[p]),
            "deleted": sorted(set(self.files) - set(after)),
        }


def use_private_caches() -> Path | None:
    """Point the caches that libraries create on import at one temporary folder removed at exit.

    The app no longer imports torch or matplotlib (whose import-time caches, ``$TMPDIR/torchinductor_<user>``
    and ``~/.cache/matplotlib``, this was written for); it stays as a cheap guard, because the packaged app
    and the self-test must leave nothing behind but the user's settings and exports. Variables already set
    by the user are kept.
    """
    import atexit
    import shutil
    import tempfile

    wanted = [v for v in ("TORCHINDUCTOR_CACHE_DIR", "MPLCONFIGDIR") if v not in os.environ]
    if not wanted:
        return None
    folder = Path(tempfile.mkdtemp(prefix="cxrviewer-"))
    for var in wanted:
        os.environ[var] = str(folder / var.lower())
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
