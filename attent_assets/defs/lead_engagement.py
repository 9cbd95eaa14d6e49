"""`attent/lead_engagement`: a downstream asset written the way a user of the component writes one.

It depends on the typed tables by key, reads them through a `DuckDBResource` (the component's
warehouse resource is one), and runs whenever one of them changed (`AutomationCondition.eager()`).
Per lead and UTC day of the event: messages in and out, calls and their minutes, emails,
compliance blocks, and the first response time (from the day's first inbound message to the
first outbound message after it). It writes `analytics.lead_engagement` in the same DuckDB file,
so it runs in the warehouse pool, like every step that writes the file.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

TABLE = "analytics.lead_engagement"
SOURCES = ("messages", "calls", "emails", "compliance_blocks")

#: Every event of the four tables as (lead, UTC time, kind, direction, call seconds), then one row
#: per lead and day.
ENGAGEMENT_SQL = f"""
CREATE OR REPLACE TABLE {TABLE} AS
WITH events AS (
    SELECT room_id AS lead_id, timezone('UTC', "timestamp") AS event_at, 'message' AS kind,
           direction, NULL::BIGINT AS seconds
    FROM attent.messages
    UNION ALL
    SELECT room_id, timezone('UTC', "timestamp"), 'call', direction, duration_seconds
    FROM attent.calls
    UNION ALL
    SELECT room_id, timezone('UTC', "timestamp"), 'email', direction, NULL FROM attent.emails
    UNION ALL
    SELECT room_id, timezone('UTC', "timestamp"), 'compliance_block', NULL, NULL
    FROM attent.compliance_blocks
),
dated AS (
    SELECT *, CAST(event_at AS DATE) AS day FROM events
    WHERE lead_id IS NOT NULL AND event_at IS NOT NULL
),
first_inbound AS (
    SELECT lead_id, day, min(event_at) AS event_at FROM dated
    WHERE kind = 'message' AND direction = 'INBOUND' GROUP BY lead_id, day
),
first_response AS (
    SELECT i.lead_id, i.day, epoch(min(d.event_at) - i.event_at) AS first_response_seconds
    FROM first_inbound i JOIN dated d
      ON d.lead_id = i.lead_id AND d.day = i.day AND d.kind = 'message'
     AND d.direction = 'OUTBOUND' AND d.event_at >= i.event_at
    GROUP BY i.lead_id, i.day, i.event_at
)
SELECT lead_id, day,
    count(*) FILTER (WHERE kind = 'message' AND direction = 'INBOUND') AS inbound_messages,
    count(*) FILTER (WHERE kind = 'message' AND direction = 'OUTBOUND') AS outbound_messages,
    count(*) FILTER (WHERE kind = 'call') AS calls,
    coalesce(sum(seconds) FILTER (WHERE kind = 'call'), 0) / 60.0 AS call_minutes,
    count(*) FILTER (WHERE kind = 'email') AS emails,
    count(*) FILTER (WHERE kind = 'compliance_block') AS compliance_blocks,
    any_value(r.first_response_seconds) AS first_response_seconds
FROM dated LEFT JOIN first_response r USING (lead_id, day)
GROUP BY lead_id, day
ORDER BY lead_id, day
"""

COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("lead_id", "VARCHAR", description="attent.leads.id"),
        dg.TableColumn("day", "DATE", description="UTC day of the events"),
        dg.TableColumn("inbound_messages", "BIGINT"),
        dg.TableColumn("outbound_messages", "BIGINT"),
        dg.TableColumn("calls", "BIGINT"),
        dg.TableColumn("call_minutes", "DOUBLE", description="Sum of call durations"),
        dg.TableColumn("emails", "BIGINT"),
        dg.TableColumn("compliance_blocks", "BIGINT"),
        dg.TableColumn(
            "first_response_seconds",
            "DOUBLE",
            description="First inbound message of the day to the first outbound one after it",
        ),
    ]
)


@dg.asset(
    key=["attent", "lead_engagement"],
    deps=[dg.AssetKey(["attent", table]) for table in SOURCES],
    group_name="attent",
    kinds={"duckdb"},
    pool="warehouse",
    automation_condition=dg.AutomationCondition.eager(),
    metadata={"dagster/table_name": TABLE, "dagster/column_schema": COLUMNS},
    check_specs=[
        dg.AssetCheckSpec("one_row_per_lead_and_day", asset=["attent", "lead_engagement"]),
        dg.AssetCheckSpec("messages_add_up", asset=["attent", "lead_engagement"]),
    ],
    description=f"{TABLE}: per lead and UTC day, inbound and outbound messages, calls and "
    "their minutes, emails, compliance blocks and the first response time. Rebuilt whenever a "
    "source table changed.",
)
def lead_engagement(warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute(ENGAGEMENT_SQL)
        rows, keys, messages = con.execute(
            f"SELECT count(*), count(DISTINCT (lead_id, day)), "
            f"coalesce(sum(inbound_messages + outbound_messages), 0) FROM {TABLE}"
        ).fetchall()[0]
        (source_messages,) = con.execute(
            "SELECT count(*) FROM attent.messages WHERE room_id IS NOT NULL "
            "AND \"timestamp\" IS NOT NULL AND direction IN ('INBOUND', 'OUTBOUND')"
        ).fetchall()[0]
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows},
        check_results=[
            dg.AssetCheckResult(
                check_name="one_row_per_lead_and_day",
                passed=rows == keys,
                metadata={"rows": rows, "distinct_lead_days": keys},
            ),
            dg.AssetCheckResult(
                check_name="messages_add_up",
                passed=messages == source_messages,
                metadata={"counted": messages, "in_attent_messages": source_messages},
            ),
        ],
    )


#: Evaluates the asset's automation condition, running from the start: Dagster's default
#: automation sensor would do it too, but starts stopped until someone switches it on in the UI.
lead_engagement_automation = dg.AutomationConditionSensorDefinition(
    "attent_lead_engagement_automation",
    target=[lead_engagement],
    default_status=dg.DefaultSensorStatus.RUNNING,
)
