"""HTTP client of the Attent API: settings, typed records, errors, pagination and retries."""

from attent_assets.api.client import AttentClient, lead_events_path
from attent_assets.api.errors import (
    AttentAuthError,
    AttentBadRequestError,
    AttentConfigError,
    AttentError,
    AttentInvalidBodyError,
    AttentNotFoundError,
    AttentUnavailableError,
    AttentUnexpectedStatusError,
)
from attent_assets.api.models import Event, Lead, format_timestamp
from attent_assets.api.pages import EventPage, LeadEvents, LeadPage
from attent_assets.api.quota import Quota, read_quota
from attent_assets.api.ratelimit import RateLimiter
from attent_assets.api.retry import RetrySettings, parse_retry_after
from attent_assets.api.settings import ClientSettings
from attent_assets.api.stats import ClientStats
from attent_assets.values import parse_timestamp

__all__ = [
    "AttentAuthError",
    "AttentBadRequestError",
    "AttentClient",
    "AttentConfigError",
    "AttentError",
    "AttentInvalidBodyError",
    "AttentNotFoundError",
    "AttentUnavailableError",
    "AttentUnexpectedStatusError",
    "ClientSettings",
    "ClientStats",
    "Event",
    "EventPage",
    "Lead",
    "LeadEvents",
    "LeadPage",
    "Quota",
    "RateLimiter",
    "RetrySettings",
    "format_timestamp",
    "lead_events_path",
    "parse_retry_after",
    "parse_timestamp",
    "read_quota",
]
