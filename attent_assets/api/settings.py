"""Client settings: every knob of the HTTP client in one validated, immutable record."""

from __future__ import annotations

import importlib.metadata
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from attent_assets.api.errors import AttentConfigError
from attent_assets.api.retry import RetrySettings


def _package_version() -> str:
    try:
        return importlib.metadata.version("attent_assets")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


DEFAULT_USER_AGENT = f"attent-assets/{_package_version()} (+httpx)"
_TYPE_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """How to reach the API and how hard to try.

    `api_key` is excluded from the repr so the settings object can be logged or shown in an error.
    `retry` is the whole retry policy (`retry.py`). `max_requests_per_second` caps the pace of
    every request the client sends; None lets the client find the server's limit itself
    (`ratelimit.py`).
    """

    base_url: str = "https://api.attent.app/v1"
    api_key: str = field(repr=False)
    page_size: int = 1000
    concurrency: int = 16
    connect_timeout: float = 10
    read_timeout: float = 30
    retry: RetrySettings = field(default_factory=RetrySettings)
    max_requests_per_second: float | None = None
    types: tuple[str, ...] | None = None
    user_agent: str = DEFAULT_USER_AGENT
    verify_tls: bool = True

    def validate(self) -> None:
        """Raise `AttentConfigError` naming the first offending setting."""
        self._validate_base_url()
        if not self.api_key or not self.api_key.strip():
            raise AttentConfigError(
                "api_key is empty: set the ATTENT_API_KEY environment variable to your Attent "
                "API key"
            )
        _require_range("page_size", self.page_size, 1, 1000)
        _require_range("concurrency", self.concurrency, 1, 64)
        for name in ("connect_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise AttentConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        self.retry.check()
        rate = self.max_requests_per_second
        if rate is not None and not (
            isinstance(rate, int | float) and math.isfinite(rate) and rate > 0
        ):
            raise AttentConfigError(
                f"max_requests_per_second must be a number > 0, or unset; got {rate!r}"
            )
        if self.types is not None:
            if not self.types:
                raise AttentConfigError("types must not be empty; use None to fetch every type")
            # Any type name is accepted: new types appear without notice.
            odd = [t for t in self.types if not _TYPE_NAME.fullmatch(t)]
            if odd:
                raise AttentConfigError(
                    f"types contains {odd!r}; event types are upper-case names like MESSAGE"
                )

    def _validate_base_url(self) -> None:
        # The URL is not echoed: a mistyped one may carry credentials (user:password@host).
        try:
            parts = urlsplit(self.base_url)
            has_host = bool(parts.hostname)
        except ValueError:
            raise AttentConfigError("base_url is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not has_host:
            raise AttentConfigError("base_url must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise AttentConfigError("base_url must not contain credentials; use api_key instead")
        if parts.query or parts.fragment:
            raise AttentConfigError("base_url must not contain a query string or fragment")


def _require_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AttentConfigError(f"{name} must be an integer from {low} to {high}, got {value!r}")
