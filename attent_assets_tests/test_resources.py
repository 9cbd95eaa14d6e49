"""The resources: environment fallbacks, clear configuration errors and the client's lifecycle."""

from __future__ import annotations

import dagster as dg
import pytest

from attent_assets.api import AttentConfigError, ClientSettings
from attent_assets.defs.resources import DEFAULT_BASE_URL, AttentResource, SyncResource
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
