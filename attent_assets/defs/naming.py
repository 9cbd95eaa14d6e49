"""Every name one Attent organisation's definitions use, derived from its key prefix.

Two organisations in one code location differ only by their prefix, so nothing they define may
collide: asset keys, job, sensor and schedule names, resource keys and the pool all come from here.
With the default prefix `attent` the names are the project's contract (DESIGN section 7): asset
keys `attent/leads` ..., the job `attent_sync`, the sensor `attent_lead_changes`, the resource
keys `attent`, `warehouse` and `sync`, the pool `warehouse`. With another prefix every name carries
it: `acme/leads`, `acme_sync`, `acme_lead_changes`, resources `acme`, `acme_warehouse`,
`acme_sync_settings`, the pool `acme_warehouse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from attent_assets.sync import TABLE_NAMES

DEFAULT_PREFIX = "attent"
#: Dagster names (jobs, sensors, resource keys) allow letters, digits and underscores.
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}")


@dataclass(frozen=True)
class Naming:
    """The names of one organisation's definitions."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"key_prefix {self.prefix!r} must start with a letter and hold only letters, "
                "digits and underscores (it names keys, jobs, sensors and resources)"
            )

    def _scoped(self, name: str, other: str | None = None) -> str:
        """`name` for the default prefix (the project's contract), else `<prefix>_<other>`."""
        return name if self.prefix == DEFAULT_PREFIX else f"{self.prefix}_{other or name}"

    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.prefix, name])

    @cached_property
    def leads(self) -> dg.AssetKey:
        return self.key("leads")

    @cached_property
    def raw_events(self) -> dg.AssetKey:
        return self.key("raw_events")

    @cached_property
    def typed(self) -> dict[str, dg.AssetKey]:
        """One key per typed event table, by table name."""
        return {name: self.key(name) for name in TABLE_NAMES}

    @cached_property
    def tables(self) -> dict[str, dg.AssetKey]:
        """Every warehouse table's key by table name, leads included."""
        return {"leads": self.leads, **self.typed}

    @cached_property
    def synced(self) -> tuple[dg.AssetKey, ...]:
        """Every asset the sync produces, in lineage order."""
        return (self.leads, self.raw_events, *self.typed.values())

    @property
    def sync_job(self) -> str:
        return f"{self.prefix}_sync"

    @property
    def audit_job(self) -> str:
        return f"{self.prefix}_audit"

    @property
    def sensor(self) -> str:
        return f"{self.prefix}_lead_changes"

    @property
    def reconciliation_schedule(self) -> str:
        return f"{self.prefix}_daily_reconciliation"

    @property
    def audit_schedule(self) -> str:
        return f"{self.prefix}_audit_schedule"

    @property
    def sync_assets(self) -> str:
        """The multi-asset's (and so the step's) name."""
        return f"{self.prefix}_sync_assets"

    @property
    def api_resource(self) -> str:
        return self.prefix

    @property
    def warehouse_resource(self) -> str:
        return self._scoped("warehouse")

    @property
    def sync_resource(self) -> str:
        # Not `<prefix>_sync`, which is the job's name: the launchpad shows both.
        return self._scoped("sync", "sync_settings")

    @property
    def default_pool(self) -> str:
        return self._scoped("warehouse")
