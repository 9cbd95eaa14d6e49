"""HTTP client of the Attent API: settings, typed records, errors, pagination and retries."""

from attent_assets.api.client import AttentClient, lead_events_path
from attent_assets.api.errors import (
    AttentAuthError,
    AttentBadRequestError,
    AttentConfigError,
    AttentError,
    AttentNotFoundError,
    AttentUnavailableError,
    AttentUnexpectedStatusError,
)
from attent_assets.api.models import (
    DATA_MODELS,
    DOCUMENTED_TYPES,
    CallData,
    ComplianceBlockedData,
    CustomData,
    EmailData,
    Event,
    EventData,
    JsonValue,
    Lead,
    MessageData,
    ModelField,
    ToolCallData,
    format_timestamp,
    json_field,
    model_fields,
    parse_timestamp,
)
from attent_assets.api.pages import EventPage, LeadEvents, LeadPage
from attent_assets.api.quota import Quota, read_quota
from attent_assets.api.ratelimit import RateLimiter
from attent_assets.api.retry import parse_retry_after
from attent_assets.api.settings import ClientSettings
from attent_assets.api.stats import ClientStats

__all__ = [
    "DATA_MODELS",
    "DOCUMENTED_TYPES",
    "AttentAuthError",
    "AttentBadRequestError",
    "AttentClient",
    "AttentConfigError",
    "AttentError",
    "AttentNotFoundError",
    "AttentUnavailableError",
    "AttentUnexpectedStatusError",
    "CallData",
    "ClientSettings",
    "ClientStats",
    "ComplianceBlockedData",
    "CustomData",
    "EmailData",
    "Event",
    "EventData",
    "EventPage",
    "JsonValue",
    "Lead",
    "LeadEvents",
    "LeadPage",
    "MessageData",
    "ModelField",
    "Quota",
    "RateLimiter",
    "ToolCallData",
    "format_timestamp",
    "json_field",
    "lead_events_path",
    "model_fields",
    "parse_retry_after",
    "parse_timestamp",
    "read_quota",
]
