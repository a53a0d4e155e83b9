"""The network between the devices and the server, and a way to cut it."""

from __future__ import annotations

import contextlib
import socket
import threading

from testkit.proxy import LoopbackProxy, rst_close


class FaultProxy(LoopbackProxy):
    """A TCP proxy in front of the server that can cut the network.

    While cut, new connections are accepted and reset at once and the open
    ones are reset: to the uploader it looks like a dead network.
    """

    def __init__(self, upstream_port: int):
        self.cut = False
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.refused = 0
        super().__init__(upstream_port, backlog=256)

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            with self._lock:
                for s in list(self._conns):
                    rst_close(s)
                self._conns.clear()

    def handle(self, client: socket.socket) -> None:
        if self.cut:
            self.refused += 1
            rst_close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            rst_close(client)
            return
        with self._lock:
            self._conns.update((client, upstream))
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                self._conns.discard(src)

    def close(self) -> None:
        super().close()
        self.set_cut(True)
