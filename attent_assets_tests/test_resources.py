"""The resources: environment fallbacks, clear configuration errors and the client's lifecycle."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attent_assets.api import AttentConfigError, ClientSettings, RetrySettings
from attent_assets.defs.changes import PollBudget
from attent_assets.defs.resources import (
    DEFAULT_BASE_URL,
    AttentResource,
    RetryConfig,
    SyncResource,
    WarehouseResource,
)
from attent_assets.simulator import SimulatorServer
from attent_assets.sync import SyncSettings
from attent_assets_tests.harness import SIMULATOR_KEY


def test_the_resource_opens_one_client_per_run_and_closes_it(simulator: SimulatorServer) -> None:
    resource = AttentResource(base_url=simulator.url, api_key=SIMULATOR_KEY)
    with dg.build_resources({"attent": resource}) as resources:
        client = resources.attent.client
        assert not client.closed
        assert next(iter(client.iter_leads(updated_since=simulator.world.now()))) is not None
    assert client.closed


def test_settings_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTENT_API_KEY", "from-env")
    monkeypatch.delenv("ATTENT_BASE_URL", raising=False)
    settings = AttentResource().client_settings()
    assert settings.api_key == "from-env"
    assert settings.base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("ATTENT_BASE_URL", "http://127.0.0.1:1/v1")
    assert AttentResource().client_settings().base_url == "http://127.0.0.1:1/v1"


def test_a_missing_key_is_one_error_naming_the_variable_and_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ATTENT_API_KEY", raising=False)
    with pytest.raises(AttentConfigError, match=r"ATTENT_API_KEY is not set.*make demo"):
        AttentResource().client_settings()


def test_the_key_stays_out_of_reprs_and_settings_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTENT_API_KEY", "sk-very-secret-123")
    settings = AttentResource().client_settings()
    assert "sk-very-secret-123" not in repr(settings)
    assert "sk-very-secret-123" not in str(settings)


def test_unset_resources_run_with_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """A default changed in ClientSettings or SyncSettings is what Dagster runs use: the resources
    restate none of them."""
    monkeypatch.setenv("ATTENT_API_KEY", "k")
    monkeypatch.delenv("ATTENT_BASE_URL", raising=False)
    assert AttentResource().client_settings() == ClientSettings(api_key="k")
    assert SyncResource().settings() == SyncSettings()


def test_the_resource_exposes_the_whole_retry_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of RetrySettings is resource config: each one set reaches the client."""
    monkeypatch.setenv("ATTENT_API_KEY", "k")
    config = RetryConfig(
        statuses=["429", "503"],
        network_errors=False,
        invalid_bodies=False,
        max_attempts=3,
        max_seconds=9,
        max_retry_after=7,
        backoff_initial=0.1,
        backoff_max=2,
    )
    retry = AttentResource(retry=config).client_settings().retry
    default = RetrySettings()
    unchanged = [
        name
        for name in RetrySettings.model_fields
        if getattr(retry, name) == getattr(default, name)
    ]
    assert unchanged == []
    assert retry.statuses == ["429", "503"]


def test_a_sensor_poll_derives_its_retries_from_the_resources() -> None:
    """A poll keeps the configured policy and only shortens its time budget."""
    retry = RetrySettings(statuses=["429"], max_attempts=3, max_seconds=300)
    settings = ClientSettings(api_key="k", retry=retry, read_timeout=60)
    poll = PollBudget().client_settings(settings)
    assert poll.retry == retry.model_copy(update={"max_seconds": PollBudget().request_seconds})
    assert poll.read_timeout == PollBudget().request_seconds


def _readme_defaults() -> list[tuple[str, str, str]]:
    """(resource, field, default) of every row of the README's resource-config table."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `(attent|warehouse|sync)` \| (.+?) \| (.+?) \| .+\|$", text, re.M)
    found = []
    for resource, fields, defaults in rows:
        names = re.findall(r"`([\w.]+)`", fields)
        values = [defaults] if len(names) == 1 else defaults.split(", ")
        assert len(names) == len(values), f"README row for {fields}: one default per field"
        found += [
            (resource, name, value.strip("`")) for name, value in zip(names, values, strict=True)
        ]
    return found


def _literal(text: str) -> object:
    """A README default as a value: unset, all and what is resolved at run start (`$VAR`,
    `<data_dir>/…`) are None, as the resources leave them empty."""
    if text in ("unset", "all") or text[0] in "$<":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def test_the_readme_states_the_resources_defaults() -> None:
    """The README's resource-config table shows the defaults the resources run with."""
    resources = {"attent": AttentResource, "warehouse": WarehouseResource, "sync": SyncResource}
    rows = _readme_defaults()
    assert {name for _, name, _ in rows} >= {"retry.max_attempts", "commit_mib", "page_size"}
    for resource, dotted, text in rows:
        model: Any = resources[resource]
        *path, name = dotted.split(".")
        for part in path:
            model = model.model_fields[part].annotation
        default = model.model_fields[name].get_default(call_default_factory=True)
        assert _literal(text) == (None if default == "" else default), (
            f"README: `{resource}` `{dotted}` default {text}"
        )
