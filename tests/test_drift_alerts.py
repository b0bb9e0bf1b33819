"""Drift checks on real materializations, and the alert sensor posting to a local webhook.

Four shards of one source hold ordinary web sentences; a fifth (``shifted``) holds sentences
three times as long. The shifted partition's ``sentences_distribution_stable`` check fails
against the rolling window of the others; the unshifted ones pass. The sensor then alerts once,
for the shifted partition only, to a webhook receiver on 127.0.0.1.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import numpy as np
import pytest

from realsyn_assets.alerting import check_alert_sensor
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.sentences import sentences
from resources.alerts import AlertSinkResource
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource
from resources.text_models import CatParserResource

SUBJECTS = ["The old bakery", "Our small team", "The city council", "A local farmer", "The museum"]
VERBS = ["opened", "painted", "repaired", "described", "visited", "sold", "planted", "built"]
OBJECTS = [
    "a new garden",
    "the wooden bridge",
    "three red boats",
    "the school roof",
    "a stone wall",
]
TAILS = [
    "near the river",
    "last spring",
    "after the storm",
    "with help from volunteers",
    "for the summer market",
    "in the north of the town",
]


def _sentence(rng, clauses: int) -> str:
    parts = [
        f"{rng.choice(SUBJECTS) if i == 0 else 'then it'} {rng.choice(VERBS)} "
        f"{rng.choice(OBJECTS)} {rng.choice(TAILS)}"
        for i in range(clauses)
    ]
    return " and ".join(parts) + "."


def _shard(path, seed: int, clauses: tuple[int, int], docs: int = 6, per_doc: int = 12) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for d in range(docs):
            texts = [_sentence(rng, int(rng.integers(*clauses))) for _ in range(per_doc)]
            # paragraphs of 3 sentences
            paras = [" ".join(texts[i : i + 3]) for i in range(0, len(texts), 3)]
            doc = {"url": f"https://example.org/{seed}/{d}", "text_list": paras, "image_info": []}
            f.write(json.dumps(doc) + "\n")


def _resources(corpus, data) -> dict:
    return {
        "corpus": StorageResource(root=str(corpus)),
        "storage": StorageResource(root=str(data)),
        "cat_parser": CatParserResource(workers=1),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
    }


def _defs(resources, sink) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_documents, sentences],
        sensors=[check_alert_sensor],
        resources={**resources, "alerts": sink},
    )


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver.received
    server.shutdown()


@pytest.mark.slow  # runs on several partitions, sensor ticks
def test_shifted_partition_alerts_and_unshifted_do_not(dagster_home, tmp_path, webhook):
    corpus = tmp_path / "corpus"
    normal = [f"site/normal-{i}.jsonl" for i in range(4)]
    for i, key in enumerate(normal):
        _shard(corpus / key, seed=i, clauses=(1, 3))
    _shard(corpus / "site/shifted.jsonl", seed=9, clauses=(3, 5))
    instance = dg.DagsterInstance.get()
    keys = [*normal, "site/shifted.jsonl"]
    instance.add_dynamic_partitions(shard_partitions.name, keys)
    url, received = webhook
    resources = _resources(corpus, tmp_path / "data")
    for key in keys:
        result = dg.materialize(
            [raw_documents, sentences], partition_key=key, instance=instance, resources=resources
        )
        assert result.success

    def drift_eval(key):
        latest = None
        records = instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
            ascending=True,
        )
        for record in records:
            ev = record.event_log_entry.dagster_event.event_specific_data
            run = instance.get_run_by_id(record.event_log_entry.run_id)
            if (
                ev.check_name == "sentences_distribution_stable"
                and run.tags.get("dagster/partition") == key
            ):
                latest = ev
        return latest

    first = drift_eval(normal[0])
    assert first.passed and "no reference" in first.description  # nothing to compare with yet
    for key in normal[1:]:
        ev = drift_eval(key)
        assert ev.passed, (key, ev.description)
        assert ev.metadata["comparisons"].value >= 2  # n_words and reason vs the window
    shifted = drift_eval("site/shifted.jsonl")
    assert not shifted.passed
    assert shifted.severity == dg.AssetCheckSeverity.ERROR
    assert "n_words vs window of 4 partition(s)" in shifted.description

    # Re-materializing an unchanged partition compares with its previous self: no drift.
    dg.materialize([sentences], partition_key=normal[1], instance=instance, resources=resources)
    again = drift_eval(normal[1])
    assert again.passed
    assert "| n_words | previous | ok | 0.0 |" in again.metadata["details"].value

    # The sensor alerts once per failed evaluation, and only for the shifted partition.
    sink = AlertSinkResource(webhook_url=url)
    DEFS = _defs(resources, sink)  # noqa: N806
    ctx = dg.build_sensor_context(instance=instance, resources={"alerts": sink}, definitions=DEFS)
    outcome = check_alert_sensor(ctx)
    assert "1 failed check(s) alerted; 1 sent to the webhook" in outcome.skip_message
    assert len(received) == 1
    (alert,) = received[0]["alerts"]
    assert alert["partition"] == "site/shifted.jsonl"
    assert alert["check"] == "sentences_distribution_stable" and alert["severity"] == "ERROR"
    ctx2 = dg.build_sensor_context(
        instance=instance, resources={"alerts": sink}, cursor=ctx.cursor, definitions=DEFS
    )
    assert "no new check evaluations" in check_alert_sensor(ctx2).skip_message
    assert len(received) == 1


@pytest.mark.slow  # runs on several partitions, sensor ticks
def test_alert_webhook_failure_keeps_the_cursor(dagster_home, tmp_path):
    """An unreachable webhook fails the tick and leaves the cursor, so alerts are retried."""
    from realsyn.alerts import AlertDeliveryError

    corpus = tmp_path / "corpus"
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, ["a/x.jsonl"])
    resources = _resources(corpus, tmp_path / "data")
    # The shard's content changes between two materializations: its check fails against the
    # previous one (min_count 1 because the shard is tiny).
    drift = DriftResource(min_count=1, alpha=0.5)
    for seed, clauses in ((1, (1, 2)), (2, (4, 6))):
        _shard(corpus / "a/x.jsonl", seed=seed, clauses=clauses, docs=1, per_doc=6)
        dg.materialize(
            [raw_documents, sentences],
            partition_key="a/x.jsonl",
            instance=instance,
            resources={**resources, "drift": drift},
        )
    dead = AlertSinkResource(webhook_url="http://127.0.0.1:9/hook", retries=0, timeout_s=1)
    DEFS = _defs(resources, dead)  # noqa: N806
    ctx = dg.build_sensor_context(instance=instance, resources={"alerts": dead}, definitions=DEFS)
    with pytest.raises(AlertDeliveryError, match="127.0.0.1:9"):
        check_alert_sensor(ctx)
    assert ctx.cursor is None
