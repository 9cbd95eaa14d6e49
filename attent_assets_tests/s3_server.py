"""A throwaway S3-compatible server on loopback: moto in server mode, in its own process.

Its own process, not a thread of the tests': the sync's threads and the server's would share one
GIL, and the crash tests' killed children must reach it after this process forked them. moto
accepts any credentials unless `require_auth` (every request must then be signed by a key moto
issued, so any other key is refused as an unknown one).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from attent_assets_tests.topology import free_port

REGION = "us-east-1"


class S3Server:
    """`moto_server` on 127.0.0.1 (a free port), its output in `log`."""

    def __init__(self, log: Path, *, require_auth: bool = False) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._require_auth = require_auth
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> S3Server:
        env = dict(os.environ)
        if self._require_auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"moto_server did not answer within {timeout:g}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def environment(self) -> dict[str, str]:
        """The standard AWS settings that point a client at this server, with a fresh secret."""
        return {
            "AWS_ACCESS_KEY_ID": f"AKIA{secrets.token_hex(8).upper()}",
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def create_bucket(self, name: str) -> None:
        response = httpx.put(f"{self.url}/{name}", timeout=10.0)
        response.raise_for_status()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
