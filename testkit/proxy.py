"""A TCP proxy on 127.0.0.1 port 0 in front of a local server, for fault tests.

:class:`LoopbackProxy` owns the listener and the accept loop; a subclass
decides what happens to each connection (``handle``): pass it through, cut
it, delay it. :func:`rst_close` ends a socket the way a dead network does.
"""

from __future__ import annotations

import socket
import struct
import threading


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN. ``shutdown(SHUT_RD)`` first wakes
    a thread blocked reading this socket, so the close really happens now."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()


class LoopbackProxy:
    """Listens on 127.0.0.1 (``url``) and hands each accepted connection to
    :meth:`handle` on the accept thread; ``upstream_port`` is the real server."""

    def __init__(self, upstream_port: int, *, backlog: int = 64):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(backlog)
        self.port: int = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.handle(client)

    def handle(self, client: socket.socket) -> None:
        """What to do with a new connection (the accept loop waits for this call)."""
        raise NotImplementedError

    def close(self) -> None:
        self._closing = True
        self.listener.close()
