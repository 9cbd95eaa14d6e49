"""Errors raised by the Attent client.

Every message is built from safe parts only (status codes, endpoint paths, the server's own error
text, exception class names): never from request headers, so the API key cannot leak through an
exception, its repr or a log line that prints it.
"""

from __future__ import annotations


class AttentError(Exception):
    """Base class of everything the client raises on purpose."""


class AttentConfigError(AttentError):
    """A setting is invalid; the message names the setting (and never shows the key)."""


class AttentAuthError(AttentError):
    """The API refused the key (401 or 403). Never retried: another attempt cannot fix a key."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(
            f"The Attent API rejected the API key (HTTP {status}). Check ATTENT_API_KEY."
        )


class AttentBadRequestError(AttentError):
    """The API refused the request as invalid (400): a bug or a bad cursor, so never retried."""

    def __init__(self, path: str, server_message: str | None) -> None:
        self.path = path
        self.server_message = server_message
        detail = f": {server_message}" if server_message else ""
        super().__init__(f"The Attent API rejected GET {path} as a bad request (HTTP 400){detail}")


class AttentNotFoundError(AttentError):
    """The resource does not exist (404): a removed lead, or a base URL that is not the API."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"The Attent API has no resource at GET {path} (HTTP 404)")


class AttentUnexpectedStatusError(AttentError):
    """A status the API does not document for these endpoints; not retried, as its meaning is
    unknown."""

    def __init__(self, path: str, status: int) -> None:
        self.path = path
        self.status = status
        super().__init__(f"The Attent API answered GET {path} with unexpected HTTP {status}")


class AttentInvalidBodyError(AttentError):
    """A 200 whose body is not a page: cut short, not JSON, or without the expected list. Retried
    by default (`RetrySettings.invalid_bodies`); raised as is when it is not."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"The Attent API answered GET {path} with {detail}")


class AttentUnavailableError(AttentError):
    """Retries are exhausted: the API kept failing for the whole attempt or time budget."""

    def __init__(self, path: str, attempts: int, seconds: float, last_cause: str) -> None:
        self.path = path
        self.attempts = attempts
        self.seconds = seconds
        self.last_cause = last_cause
        super().__init__(
            f"The Attent API is unavailable: GET {path} failed {attempts} "
            f"{'time' if attempts == 1 else 'times'} over {seconds:.1f} s; "
            f"last cause: {last_cause}"
        )
