"""A TCP proxy on 127.0.0.1 that cuts connections as a network failure would, for tests and benches.

:class:`Proxy` runs on the caller's event loop. Each connection it accepts goes to the next of its ``targets``
(round robin, as a load balancer without sticky sessions); :meth:`Proxy.cut` aborts both sides of every open
connection, or of one, at once and with no WebSocket close. :class:`CuttingProxy` runs a :class:`Proxy` on a loop
in a thread of its own, for callers whose thread has no loop to spare (Playwright's sync API).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from urllib.parse import urlsplit


def port_of(url: str) -> int:
    """The port of an http://127.0.0.1:port URL."""
    port = urlsplit(url).port
    if port is None:
        raise ValueError(f"no port in {url!r}")
    return port


class Proxy:
    """A cutting TCP proxy in front of ``targets`` (http://127.0.0.1:port URLs), on the running loop.

    ``connections`` counts the connections it ever accepted and ``routed`` those it sent to each target port;
    ``target_of`` tells, by the client's own port, where a connection still open went.
    """

    def __init__(self, *targets: str) -> None:
        self.targets = [port_of(target) for target in targets]
        self.connections = 0
        self.routed: Counter[int] = Counter()
        self.url = ""
        self._next = 0
        self._open: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter, int]] = {}
        self._server: asyncio.Server | None = None

    @property
    def target(self) -> str:
        """The URL the next connection goes to."""
        return f"http://127.0.0.1:{self.targets[self._next % len(self.targets)]}"

    @target.setter
    def target(self, url: str) -> None:
        """Send every connection from now on to ``url``."""
        self.targets, self._next = [port_of(url)], 0

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def target_of(self, client_port: int) -> int | None:
        """The target port of the open connection whose client side is on ``client_port``."""
        found = self._open.get(client_port)
        return found[2] if found is not None else None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        target = self.targets[self._next % len(self.targets)]
        self._next += 1
        self.routed[target] += 1
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.transport.abort()
            return
        client_port = writer.get_extra_info("peername")[1]
        self._open[client_port] = (writer, upstream, target)
        try:
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(upstream_reader, writer))
        finally:
            if self._open.get(client_port, (None,))[0] is writer:
                del self._open[client_port]

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        writer.transport.abort()  # one side ended: end the other

    def cut(self, client_port: int | None = None) -> bool:
        """Abort every open connection (both sides) now, or only the one whose client side is on ``client_port``;
        whether one was open."""
        found = list(self._open.values()) if client_port is None else [self._open.get(client_port)]
        for pair in filter(None, found):
            pair[0].transport.abort()
            pair[1].transport.abort()
        return any(found)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._server is not None:
            await self._server.wait_closed()


class CuttingProxy:
    """A :class:`Proxy` in front of ``target``, run on an asyncio loop in a thread of its own, so a page can call
    :meth:`cut` (``page.expose_function``) in the middle of a scenario."""

    def __init__(self, target: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cutting-proxy", daemon=True)
        self._thread.start()
        self._proxy = Proxy(target)
        self._call(self._proxy.start())
        self.url = self._proxy.url

    @property
    def connections(self) -> int:
        """The TCP connections it ever accepted."""
        return self._proxy.connections

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def cut(self) -> None:
        """Abort every open connection (both sides), now."""

        async def cut() -> None:
            self._proxy.cut()

        self._call(cut())

    def close(self) -> None:
        self._call(self._proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
