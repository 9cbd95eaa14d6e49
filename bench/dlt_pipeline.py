"""The same job as a dlt pipeline, written the way an experienced dlt user would write it.

Leads are read page by page through dlt's `RESTClient` (cursor paginator on `nextToken`); each lead
feeds a parallelized transformer that reads all of that lead's events, on `extract.workers` = the
sync's concurrency threads (one shared retrying session). Nested payloads stay JSON
(`max_table_nesting=0`, no child tables), the loader writes Parquet, and both tables merge into
DuckDB on their keys: leads on `id`, events on `(type, id)`. Needs the `bench` extra (`dlt`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attent_assets.api import lead_events_path
from bench.simulator_process import API_KEY

EPOCH = "1970-01-01T00:00:00.000Z"


def dlt_available() -> str | None:
    """None when dlt can be imported, else why not (for the report)."""
    try:
        import dlt  # noqa: F401
    except ImportError as error:
        return f"dlt is not installed ({error}); `make bench` installs the `bench` extra"
    return None


def dlt_sync(url: str, work_dir: Path, *, concurrency: int, page_size: int) -> int:
    """Run the pipeline into `work_dir/warehouse.duckdb`; return the event rows in the warehouse."""
    os.environ["EXTRACT__WORKERS"] = str(concurrency)
    os.environ["EXTRACT__MAX_PARALLEL_ITEMS"] = str(2 * concurrency)
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    import dlt
    from dlt.sources.helpers.rest_client.client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

    api = RESTClient(
        base_url=url,
        headers={"x-api-key": API_KEY},
        paginator=JSONResponseCursorPaginator(cursor_path="nextToken", cursor_param="nextToken"),
    )

    @dlt.source(max_table_nesting=0)
    def attent() -> Any:
        @dlt.resource(primary_key="id", write_disposition="merge")
        def leads() -> Iterator[Any]:
            params = {"updatedSince": EPOCH, "limit": page_size}
            for page in api.paginate("/leads", params=params, data_selector="leads"):
                yield from page

        @dlt.transformer(
            data_from=leads,
            primary_key=("type", "id"),
            write_disposition="merge",
            parallelized=True,
        )
        def events(lead: dict[str, Any]) -> list[dict[str, Any]]:
            params = {"since": EPOCH, "limit": page_size}
            pages = api.paginate(
                lead_events_path(lead["id"]), params=params, data_selector="events"
            )
            return [event for page in pages for event in page]

        return leads, events

    pipeline = dlt.pipeline(
        pipeline_name="attent_bench",
        pipelines_dir=str(work_dir / "pipelines"),
        destination=dlt.destinations.duckdb(str(work_dir / "warehouse.duckdb")),
        dataset_name="attent",
    )
    pipeline.run(attent(), loader_file_format="parquet")
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT count(*) FROM events")
    return int(rows[0][0]) if rows else 0
