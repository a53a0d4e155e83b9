"""A fault-injecting TCP proxy on 127.0.0.1 port 0, between the uploader and
the server: it may refuse a connection (RST at accept), delay chunks, and
reset a connection part-way through a chunk in either direction (device →
server, cutting a request; server → device, cutting an answer the server has
already acted on)."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter

from testkit.proxy import LoopbackProxy, rst_close


class ChaosProxy(LoopbackProxy):
    def __init__(self, upstream_port: int, *, seed: int = 1, p_drop: float = 0.05,
                 p_reset_up: float = 0.1, p_reset_down: float = 0.15, p_delay: float = 0.3,
                 max_delay: float = 0.05):
        self.rng = random.Random(seed)
        self.p_drop, self.p_reset_up, self.p_reset_down = p_drop, p_reset_up, p_reset_down
        self.p_delay, self.max_delay = p_delay, max_delay
        self.faults: Counter = Counter()
        self.lock = threading.Lock()
        self.enabled = True
        super().__init__(upstream_port)

    def _draw(self) -> tuple[bool, int]:
        """(refuse this connection?, a seed for its own faults)."""
        with self.lock:
            return self.enabled and self.rng.random() < self.p_drop, self.rng.getrandbits(32)

    def handle(self, client: socket.socket) -> None:
        drop, seed = self._draw()
        if drop:
            self.faults["drop"] += 1
            rst_close(client)
            return
        threading.Thread(target=self._serve, args=(client, seed), daemon=True).start()

    def _serve(self, client: socket.socket, seed: int) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            self.faults["upstream_down"] += 1
            rst_close(client)
            return
        upstream.settimeout(None)
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rngs = {"up": random.Random(seed), "down": random.Random(seed + 1)}

        def pump(src: socket.socket, dst: socket.socket, p_reset: float, name: str) -> None:
            rng = rngs[name]
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        # A clean end of one side: pass the half-close on.
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        return
                    if not self.enabled:
                        dst.sendall(data)
                        continue
                    if rng.random() < self.p_delay:
                        self.faults[f"delay_{name}"] += 1
                        time.sleep(rng.uniform(0, self.max_delay))
                    if rng.random() < p_reset:
                        dst.sendall(data[:rng.randint(0, len(data))])
                        self.faults[f"reset_{name}"] += 1
                        break
                    dst.sendall(data)
            except OSError:
                pass
            rst_close(client)
            rst_close(upstream)

        t = threading.Thread(target=pump, args=(upstream, client, self.p_reset_down, "down"), daemon=True)
        t.start()
        pump(client, upstream, self.p_reset_up, "up")
        t.join()
        for s in (client, upstream):
            try:
                s.close()
            except OSError:
                pass
