"""Sockets blocked for the test suite: connect/bind/sendto to anything but loopback or a Unix socket raise.

``block_sockets()`` patches the running interpreter (the autouse fixture in tests/conftest.py does this for
every test); ``offline_env()`` gives a subprocess the same block through a ``sitecustomize`` module, so the
app itself can be run offline from a test.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path


class NetworkBlockedError(OSError):
    """Raised instead of opening a network connection while the suite runs offline."""


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes, bytearray)):  # AF_UNIX path (or abstract name)
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def block_sockets():
    """Patch socket.socket and getaddrinfo; returns a function that undoes the patch."""
    cls = socket.socket
    saved = {name: getattr(cls, name) for name in ("connect", "connect_ex", "bind", "sendto")}
    saved_gai = socket.getaddrinfo

    def guard(name):
        original = saved[name]

        def method(self, *args):
            address = args[-1] if name == "sendto" else args[0]
            if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
                raise NetworkBlockedError(f"network access blocked in tests: {name}({address!r})")
            return original(self, *args)

        method.__name__ = name
        return method

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "", "localhost") and not _is_local((host,)):
            raise NetworkBlockedError(f"network access blocked in tests: getaddrinfo({host!r})")
        return saved_gai(host, *args, **kwargs)

    for name in saved:
        setattr(cls, name, guard(name))
    socket.getaddrinfo = getaddrinfo

    def undo():
        for name, original in saved.items():
            setattr(cls, name, original)
        socket.getaddrinfo = saved_gai

    return undo


def offline_env(base_env: dict | None = None) -> dict:
    """Environment for a subprocess whose interpreter starts with sockets blocked (via sitecustomize)."""
    folder = Path(tempfile.mkdtemp(prefix="cxr-offline-"))
    here = Path(__file__).resolve().parent
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(here.parent)!r})\n"
        "from tests.offline import block_sockets\n"
        "block_sockets()\n"
        "sys.path.pop(0)\n",
        encoding="utf-8",
    )
    env = dict(os.environ if base_env is None else base_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    env["CXR_SOCKETS_BLOCKED"] = "1"
    return env
