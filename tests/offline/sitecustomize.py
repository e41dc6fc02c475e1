"""Loaded by every Python process the tests start: any network access raises at once.

The tests put this folder on PYTHONPATH, so CLI runs are proven to work with the network cut.
"""

import socket


class NetworkBlocked(OSError):
    """Raised for any attempt to reach the network during tests."""


def _blocked(*args, **kwargs):
    raise NetworkBlocked("network access is blocked: backcoach must work offline")


def block() -> None:
    """Refuse every outgoing connection and name lookup (local Unix sockets stay usable)."""
    original_connect = socket.socket.connect

    def connect(self, address, *args, **kwargs):
        if self.family == getattr(socket, "AF_UNIX", None):
            return original_connect(self, address, *args, **kwargs)
        _blocked()

    socket.socket.connect = connect
    socket.socket.connect_ex = connect
    socket.create_connection = _blocked
    socket.getaddrinfo = _blocked
    socket.gethostbyname = _blocked


block()
