"""Dagster's webserver through its GraphQL API (`/graphql`, what the UI itself uses): the demo
launches the first backfill and follows the runs with it, the end-to-end tests read what the UI
shows.

Only the few queries the demo needs are typed here; `graphql()` runs any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

_LOCATIONS = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

_PARTITION_SETS = """
query PartitionSets {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } partitionSets { name pipelineName } }
    }
    ... on PythonError { message }
  }
}
"""

_BACKFILLS = """
query Backfills {
  partitionBackfillsOrError(limit: 100) {
    __typename
    ... on PartitionBackfills {
      results { id status partitionSetName }
    }
    ... on PythonError { message }
  }
}
"""

_LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

_RUNS = """
query Runs($filter: RunsFilter!, $limit: Int!) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs {
      results { runId status creationTime startTime endTime tags { key value } }
    }
    ... on Error { message }
  }
}
"""

#: Run statuses after which nothing changes any more.
FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
#: Backfills that leave nothing to redo: one still going, or one whose runs all succeeded.
_BACKFILL_KEPT = frozenset({"REQUESTED", "COMPLETED", "COMPLETED_SUCCESS"})


class WebserverError(RuntimeError):
    """The webserver could not be reached, or answered with an error (a GraphQL error or an
    error result)."""


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    status: str
    created: float
    started: float | None
    ended: float | None
    tags: Mapping[str, str]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class Backfill:
    id: str
    status: str

    @property
    def keeps_its_place(self) -> bool:
        """Whether a new backfill of the same partitions would only repeat this one."""
        return self.status in _BACKFILL_KEPT


@dataclass(frozen=True, slots=True)
class PartitionSet:
    """How a job backfill names the partitions of a job."""

    name: str
    repository: str
    location: str


@dataclass(frozen=True, slots=True)
class Webserver:
    """The webserver at ``url`` (e.g. ``http://127.0.0.1:3000``)."""

    url: str
    timeout_seconds: float = 30.0

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of one GraphQL request; WebserverError when it fails or reports errors."""
        try:
            response = httpx.post(
                f"{self.url}/graphql",
                json={"query": query, "variables": dict(variables or {})},
                timeout=self.timeout_seconds,
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise WebserverError(f"{type(error).__name__}: {error}") from error
        if body.get("errors"):
            raise WebserverError("; ".join(e.get("message", str(e)) for e in body["errors"]))
        data: dict[str, Any] = body["data"]
        return data

    def is_up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/server_info", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def location_status(self, name: str) -> str:
        """``LOADING``, ``LOADED``, or the error that failed loading the code location."""
        workspace = _ok(self.graphql(_LOCATIONS)["workspaceOrError"])
        for entry in workspace["locationEntries"]:
            if entry["name"] != name:
                continue
            loaded = entry["locationOrLoadError"]
            if loaded is not None and loaded["__typename"] == "PythonError":
                return str(loaded["message"])
            return str(entry["loadStatus"])
        return "LOADING"

    def partition_set(self, job: str) -> PartitionSet:
        repositories = _ok(self.graphql(_PARTITION_SETS)["repositoriesOrError"])
        for repository in repositories["nodes"]:
            for partition_set in repository["partitionSets"]:
                if partition_set["pipelineName"] == job:
                    return PartitionSet(
                        name=partition_set["name"],
                        repository=repository["name"],
                        location=repository["location"]["name"],
                    )
        raise WebserverError(f"no partition set for job {job!r}")

    def backfills(self, partition_set: PartitionSet) -> list[Backfill]:
        """Backfills of that partition set, newest first."""
        results = _ok(self.graphql(_BACKFILLS)["partitionBackfillsOrError"])["results"]
        return [
            Backfill(id=b["id"], status=b["status"])
            for b in results
            if b["partitionSetName"] == partition_set.name
        ]

    def launch_backfill(self, partition_set: PartitionSet, title: str) -> str:
        """A job backfill of every partition; its id. With `BackfillPolicy.single_run()` it is one
        run over the whole partition range. (A pure asset backfill would run the unpartitioned
        typed tables in a run of their own, and wait forever for the leads partitions that no run
        materializes because nothing in those days changed.)"""
        params = {
            "selector": {
                "partitionSetName": partition_set.name,
                "repositorySelector": {
                    "repositoryName": partition_set.repository,
                    "repositoryLocationName": partition_set.location,
                },
            },
            "allPartitions": True,
            "title": title,
        }
        result = self.graphql(_LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise WebserverError(result.get("message") or result["__typename"])
        return str(result["backfillId"])

    def runs(
        self,
        *,
        job: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int = 20,
    ) -> list[Run]:
        """Runs, newest first, of ``job`` and carrying every one of ``tags``."""
        run_filter: dict[str, Any] = {}
        if job is not None:
            run_filter["pipelineName"] = job
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        runs = _ok(self.graphql(_RUNS, {"filter": run_filter, "limit": limit})["runsOrError"])
        return [_run(r) for r in runs["results"]]


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    """A union result that is not an error (every error type of Dagster's schema ends so)."""
    typename = str(result.get("__typename", ""))
    if typename.endswith("Error"):
        raise WebserverError(str(result.get("message") or typename))
    return result


def _run(raw: Mapping[str, Any]) -> Run:
    return Run(
        id=raw["runId"],
        status=raw["status"],
        created=raw["creationTime"],
        started=raw["startTime"],
        ended=raw["endTime"],
        tags={t["key"]: t["value"] for t in raw["tags"]},
    )
