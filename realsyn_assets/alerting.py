"""check_alert_sensor: turns failed asset checks (GX suites and drift) into alerts.

It reads the failed asset-check executions recorded after its cursor (an execution id), so each failure is alerted once, whatever launched the run: the UI, a
schedule, a backfill or ``realsyn run``. Alerts go to the ``alerts`` resource: the sensor's log
always, a webhook when ``REALSYN_ALERT_WEBHOOK_URL`` is set. If the webhook fails, the cursor
is not advanced and the tick fails, so the alerts are retried on the next tick.
"""

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from realsyn.alerts import Alert
from resources.alerts import AlertSinkResource

BATCH = 200  # newest failed evaluations read per check and tick


def failed_check_alerts(
    instance: dg.DagsterInstance, check_keys, after: int | None
) -> tuple[list[Alert], int | None]:
    """(alerts for the failed evaluations of ``check_keys`` recorded after execution id
    ``after``, oldest first; the newest execution id seen). Works on every event log storage,
    run-sharded SQLite included: it reads the asset-check execution table, with one query for
    the newest execution of every check and one more per check that has new executions."""
    storage = instance.event_log_storage
    found = []
    last = after
    # one query for every check's newest execution; history only where something is new
    latest = storage.get_latest_asset_check_execution_by_key(list(check_keys))
    for key, newest in sorted(latest.items(), key=lambda kv: kv[1].id):
        if after is not None and newest.id <= after:
            continue
        last = newest.id if last is None else max(last, newest.id)
        for record in storage.get_asset_check_execution_history(
            key, limit=BATCH, status={AssetCheckExecutionRecordStatus.FAILED}
        ):
            if after is not None and record.id <= after:
                break  # newest first: the rest were alerted on an earlier tick
            found.append(record)
    alerts = []
    for record in sorted(found, key=lambda r: r.id):
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        if evaluation is None:
            continue
        partition = record.partition or evaluation.partition
        if partition is None:
            run = instance.get_run_by_id(record.run_id)
            partition = run.tags.get("dagster/partition") if run else None
        alerts.append(
            Alert(
                asset=record.key.asset_key.to_user_string(),
                check=record.key.name,
                severity=evaluation.severity.value,
                partition=partition,
                description=evaluation.description or "",
                run_id=record.run_id,
                timestamp=record.create_timestamp,
            )
        )
    return alerts, last


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def check_alert_sensor(context: dg.SensorEvaluationContext, alerts: AlertSinkResource):
    """Alert on every failed asset check (WARN and ERROR), once, through the alert sink."""
    after = int(context.cursor) if context.cursor else None
    keys = sorted(context.repository_def.asset_graph.asset_check_keys)
    found, last = failed_check_alerts(context.instance, keys, after)
    if last is None or last == after:
        return dg.SkipReason("no new check evaluations")
    posted = alerts.send(found, context.log)
    context.update_cursor(str(last))
    if not found:
        return dg.SkipReason("new check evaluations, none failed")
    return dg.SkipReason(
        f"{len(found)} failed check(s) alerted; {len(posted)} sent to the webhook"
        if alerts.webhook_url
        else f"{len(found)} failed check(s) alerted (log only; no webhook configured)"
    )
