"""A real HTTP/1.1 server on loopback serving a World as the Attent API, with injectable faults.

One thread per connection, keep-alive, quiet (nothing is logged per request). The raw request
target is routed by ``api`` without any URL normalisation. Order per request: the API key is
checked first (a bad key is always a 403, never a fault), then faults are drawn, then the real
answer is computed and possibly mangled. ``stop()`` closes the listener and every open connection
and joins all threads, also those sleeping in an injected delay.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any, Final

import orjson

from attent_assets.simulator import api
from attent_assets.simulator.faults import GARBAGE_BODY, FaultDecision, Faults, Outcome, truncated
from attent_assets.simulator.live import LiveActivity
from attent_assets.simulator.stats import ServerStats
from attent_assets.simulator.world import World

_JSON: Final = "application/json"
_HTML: Final = "text/html; charset=utf-8"
_POLL_SECONDS: Final = 0.05


class SimulatorServer:
    """The Attent API over ``world`` at ``http://127.0.0.1:PORT/v1``.

    Binds only to loopback (another host is a ValueError); ``port=0`` picks a free port.
    ``changes_per_second > 0`` lets the world evolve in the background while serving (the CLI's
    live mode). ``faults`` and ``stats`` are read and written by tests while it runs.
    """

    def __init__(
        self,
        world: World,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        *,
        changes_per_second: float = 0.0,
    ) -> None:
        self._family = _loopback_family(host)
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.world = world
        self.faults = faults if faults is not None else Faults()
        self.stats = ServerStats()
        self._api_key = api_key.encode()
        self._address = (host, port)
        self._changes_per_second = changes_per_second
        self._httpd: _HTTPServer | None = None
        self._serving: threading.Thread | None = None
        self._live: LiveActivity | None = None

    def start(self) -> SimulatorServer:
        """Bind and serve from a background thread."""
        if self._httpd is not None:
            raise RuntimeError("the simulator is already running")
        self._httpd = _HTTPServer(self._address, self, self._family)
        self._serving = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name="attent-simulator",
            daemon=True,
        )
        self._serving.start()
        if self._changes_per_second > 0:
            self._live = LiveActivity(self.world, self._changes_per_second).start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join all threads. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        if self._live is not None:
            self._live.stop()
            self._live = None
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._serving is not None:
            self._serving.join()
            self._serving = None

    def __enter__(self) -> SimulatorServer:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._running().server_address[1])

    @property
    def url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/v1``."""
        host = str(self._running().server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def authorizes(self, presented: str | None) -> bool:
        """Whether an ``x-api-key`` header value is this server's key (constant-time compare)."""
        return presented is not None and hmac.compare_digest(presented.encode(), self._api_key)

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not running"
        return f"SimulatorServer({where})"

    def _running(self) -> _HTTPServer:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._httpd


class _HTTPServer(HTTPServer):
    """One daemon thread per connection. Open connections and their threads are tracked so
    ``stop()`` can close the connections (waking threads blocked in a keep-alive read) and join
    the threads."""

    def __init__(
        self, address: tuple[str, int], simulator: SimulatorServer, family: socket.AddressFamily
    ) -> None:
        self.address_family = family
        self.simulator = simulator
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would also resolve the host name (a DNS lookup) for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="attent-simulator-connection",
            daemon=True,
        )
        with self._lock:
            self._connections.add(request)
            self._threads = [alive for alive in self._threads if alive.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def close_connections(self) -> None:
        """Close every open connection and join its thread."""
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away, or stop() closed the connection
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        simulator = self.server.simulator
        raw_path, _, query = self.path.partition("?")
        if raw_path == "/_sim/stats":
            self._stats()
            return
        target = api.route(raw_path)
        arrived = time.monotonic()
        decision = FaultDecision()
        if not simulator.authorizes(self.headers.get("x-api-key")):
            reply = api.message(403, "Forbidden")
        else:
            decision = simulator.faults.decide()
            if decision.delay_seconds > 0 and self.server.stopping.wait(decision.delay_seconds):
                self.close_connection = True
                return
            if decision.outcome is Outcome.STATUS:
                reply = api.message(decision.status)
            else:
                empty_page = decision.outcome is Outcome.EMPTY_PAGE
                reply = api.answer(simulator.world, target, query, empty_page=empty_page)
        status, body, content_type = reply.status, reply.body, _JSON
        if decision.outcome is Outcome.TRUNCATE:
            body = truncated(body)
        elif decision.outcome is Outcome.GARBAGE:
            status, body, content_type = 200, GARBAGE_BODY, _HTML
        simulator.stats.record(
            target.endpoint,
            target.lead_id,
            raw_path,
            query,
            status,
            arrived=arrived,
            retry_after=decision.retry_after,
        )
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if decision.retry_after is not None:
            headers.append(("Retry-After", decision.retry_after))
        headers.extend(decision.headers)
        if decision.outcome is Outcome.DROP:
            body = body[: len(body) // 2]
            self.close_connection = True
        elif self.close_connection:
            headers.append(("Connection", "close"))
        self._write(status, headers, body)

    def do_POST(self) -> None:
        """`POST /_sim/advance?changes=N`: apply N random changes to the world now (for demos and
        benchmarks that drive a simulator in another process). Same key as the API."""
        simulator = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        raw_path, _, query = self.path.partition("?")
        if not simulator.authorizes(self.headers.get("x-api-key")):
            reply = api.message(403, "Forbidden")
        elif raw_path != "/_sim/advance":
            reply = api.message(404, "Not found")
        else:
            reply = api.advance(simulator.world, query)
        headers = [("Content-Type", _JSON), ("Content-Length", str(len(reply.body)))]
        self._write(reply.status, headers, reply.body)

    def _stats(self) -> None:
        """`GET /_sim/stats`: the request counts so far (`ServerStats.snapshot`), for benchmarks
        that count a client's requests in another process. Same key as the API; not counted
        itself and never delayed by faults."""
        simulator = self.server.simulator
        if simulator.authorizes(self.headers.get("x-api-key")):
            reply = api.Reply(200, orjson.dumps(simulator.stats.snapshot()))
        else:
            reply = api.message(403, "Forbidden")
        headers = [("Content-Type", _JSON), ("Content-Length", str(len(reply.body)))]
        self._write(reply.status, headers, reply.body)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Status line, headers and body in one write."""
        lines = [f"HTTP/1.1 {status} {api.reason_phrase(status)}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: nothing is logged per request."""


def _loopback_family(host: str) -> socket.AddressFamily:
    """The address family for a loopback host; ValueError for anything else."""
    if host == "localhost":
        return socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(f"the simulator binds only to a loopback address, not {host!r}")
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET
