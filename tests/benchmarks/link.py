"""A network link for benchmarks: a TCP proxy on 127.0.0.1 that passes at most ``rate`` bytes a second each way.

moto's server runs on the same two cores as the backup, so "upload" costs CPU and no waiting: a pipeline that
overlaps the upload with the dump can only show what it saves when the store is across a link. This puts one
in front of the server, shared by every connection as an uplink is (a virtual clock paces each 64 KiB chunk),
so both pipelines of a comparison cross the same link.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

CHUNK = 64 << 10


class Pace:
    """One direction of the link: chunks leave no faster than ``rate`` bytes a second, all connections together."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.clock = 0.0
        self.lock = threading.Lock()

    def take(self, size: int) -> None:
        with self.lock:
            self.clock = max(self.clock, time.monotonic()) + size / self.rate
            until = self.clock
        delay = until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Link:
    """Listening on 127.0.0.1, forwarding to ``port`` on 127.0.0.1 through ``rate_mb_s`` each way."""

    def __init__(self, port: int, rate_mb_s: float) -> None:
        self.target = port
        self.up, self.down = Pace(rate_mb_s * 1e6), Pace(rate_mb_s * 1e6)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True, name="link").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pipe, args=(client, server, self.up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, self.down), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, pace: Pace) -> None:
        try:
            while data := source.recv(CHUNK):
                pace.take(len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (sink, source):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
