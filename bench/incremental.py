"""What a sensor-launched incremental run asked the API, against what had changed: the measure of
"cost follows change" (about one events request per changed lead, none for the others)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.measure import Measurement


@dataclass(frozen=True, slots=True)
class Incremental:
    """The run the sensor requested after `changes` world changes, and what it asked the API."""

    changes: int
    changed_leads: int
    tick: Measurement
    run: Measurement
    extra_pages: int
    unchanged_leads_fetched: int

    @classmethod
    def of(
        cls, changes: int, changed: set[str], tick: Measurement, run: Measurement
    ) -> Incremental:
        """`changed`: the leads the changes made new or whose `lastActivityAt` moved."""
        by_lead = run.counts.events_by_lead if run.counts else {}
        return cls(
            changes=changes,
            changed_leads=len(changed),
            tick=tick,
            run=run,
            extra_pages=sum(count - 1 for count in by_lead.values()),
            unchanged_leads_fetched=len(set(by_lead) - changed),
        )

    @property
    def events_requests(self) -> int:
        return self.run.counts.events if self.run.counts else 0

    @property
    def requests_per_changed_lead(self) -> float:
        return self.events_requests / self.changed_leads if self.changed_leads else 0.0
