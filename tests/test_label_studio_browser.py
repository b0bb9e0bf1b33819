"""A review round through a real Label Studio, labelled in a real browser.

A round's folder (tasks.json, label_config.xml, images: what ``review_sample`` writes) is
imported into Label Studio 1.23 (its own venv, SQLite, headless on 127.0.0.1; images served as
Local Files from the data root, which is the document root). A few tasks are labelled in
Debian's headless Chromium through Playwright: the choices are clicked and the annotation
submitted. The project is exported through Label Studio's API (JSON and JSON_MIN: both shapes
parse to the same labels) into the round's ``labels/`` folder, where ``review_labels_sensor``
picks it up and ``human_validation`` reads it: the labels recorded are exactly the clicks.

Marked slow (Label Studio answers /health after about a minute). Skipped with its reason when
Label Studio's venv (``scripts/env.sh``), Chromium or Playwright is missing, unless
``REALSYN_REQUIRE_BROWSER=1`` (CI), where that fails.
"""

from __future__ import annotations

import io
import json
import time

import dagster as dg
import numpy as np
import polars as pl
import pytest
from PIL import Image
from test_review import world  # noqa: F401  (the module-scoped generated world)

from realsyn.label_studio import parse_export
from realsyn.review import (
    CHOICES,
    TEXT_FIELDS,
    ReviewParams,
    gold_table,
    sample_review,
    world_labels,
)
from realsyn.schemas import image_blob_key
from realsyn.storage import LocalStorage, read_manifest, read_partition_table, write_partition
from realsyn_assets.review import ReviewSampleConfig, _write_folder
from realsyn_assets.review_labels import human_validation, review_labels_sensor
from resources.storage import StorageResource
from tests import label_studio_server as lss
from tests.test_ui_browser import CHROMIUM, _require_browser

pytestmark = pytest.mark.slow

ROUND = "r001"
LABELLED_TASKS = 3  # tasks labelled in the browser
FIELDS = ("text1", "text2", "text3")  # syn_text is "(none)" in this round: left unanswered


@pytest.fixture(scope="module", autouse=True)
def _require() -> None:
    """Skip (or fail under REALSYN_REQUIRE_BROWSER=1) before the world is built."""
    _require_browser(lss.missing() or "")


def _png(sha: str) -> bytes:
    colour = tuple(bytes.fromhex(sha[:6]))
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


def _round(store: LocalStorage, world) -> pl.DataFrame:  # noqa: F811
    """A small sampled round with its folder for people, as ``review_sample`` writes it."""
    pairs, ti, ts = world
    truth = world_labels(pairs, ti, ts)
    gold = dict(sorted(truth.items())[:2])
    params = ReviewParams(per_stratum=2, gold_items=2, gold_repeats=2)
    items = sample_review(pairs, (0.3, 0.6), params, ROUND, gold=gold)
    write_partition(
        store, "review_sample", ROUND, {"items": items, "gold": gold_table(items, gold)}
    )
    for sha in items["sha256"].unique().to_list():
        store.write_bytes(image_blob_key(sha), _png(sha))
    _write_folder(store, ROUND, items, ReviewSampleConfig())
    return items


def _answers(n: int) -> dict[str, str]:
    """The answers clicked on the n-th labelled task: every choice shows up somewhere."""
    return {f: CHOICES[(n + k) % len(CHOICES)] for k, f in enumerate(FIELDS)}


def _label_in_browser(server: lss.LabelStudio, project: int, task_ids: list[int], tmp_path):
    """Log in, open each task in the labelling editor, tick its answers, submit."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # fresh: nobody is logged in yet
            executable_path=str(CHROMIUM),
            headless=True,
            viewport={"width": 1400, "height": 1000},
            args=["--no-sandbox", "--disable-dev-shm-usage"],  # root in a container
        )
        context.set_default_timeout(60_000)
        page = context.new_page()
        try:
            page.goto(f"{server.url}/user/login/")
            page.fill("input[name=email]", lss.USER)
            page.fill("input[name=password]", lss.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)
            for n, task_id in enumerate(task_ids):
                page.goto(f"{server.url}/projects/{project}/data?task={task_id}")
                blocks = page.locator(".lsf-choices")
                expect(blocks).to_have_count(len(TEXT_FIELDS))
                # the editor shows the image it fetched from the local-files URL
                page.wait_for_function(
                    "() => [...document.images].some(i => i.src.startsWith('blob:')"
                    " && i.complete && i.naturalWidth === 96)"
                )
                for field, answer in _answers(n).items():
                    block = blocks.nth(TEXT_FIELDS.index(field))
                    block.locator("label", has_text=answer).click()
                    expect(block.get_by_role("checkbox", checked=True)).to_have_count(1)
                page.screenshot(path=str(tmp_path / f"task-{n}.png"))
                with page.expect_response(
                    lambda r: r.request.method == "POST" and "/annotations" in r.url
                ) as posted:
                    page.get_by_role("button", name="Submit").click()
                assert posted.value.ok, posted.value.text()
        finally:
            context.close()


def _tick(instance, store, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"storage": StorageResource(root=str(store.root))},
    )
    return review_labels_sensor(context)


def test_review_round_through_label_studio_in_a_browser(tmp_path, world):  # noqa: F811
    store = LocalStorage(tmp_path / "data")
    items = _round(store, world)
    folder = tmp_path / "data" / "review" / ROUND
    task_list = json.loads((folder / "tasks.json").read_text())

    started = time.time()
    server = lss.start(tmp_path / "label-studio", document_root=tmp_path / "data")
    timings = {"startup": time.time() - started}
    try:
        project = server.api(
            "POST",
            "/api/projects/",
            json={
                "title": f"realsyn {ROUND}",
                "label_config": (folder / "label_config.xml").read_text(),
            },
        ).json()["id"]
        # images: a Local Files source storage over the round's folder (never synced: the tasks
        # come from tasks.json) lets Label Studio serve /data/local-files/?d=review/<round>/...
        # (without one, those URLs answer 404)
        server.api(
            "POST",
            "/api/storages/localfiles/",
            json={"project": project, "title": ROUND, "path": str(folder), "use_blob_urls": True},
        )
        imported = server.api("POST", f"/api/projects/{project}/import", json=task_list).json()
        assert imported["task_count"] == len(task_list) == items["copies"].sum()
        listed = server.api("GET", f"/api/tasks/?project={project}&page_size=1000").json()["tasks"]
        listed = sorted(listed, key=lambda t: t["id"])
        assert [t["data"]["item_id"] for t in listed] == [t["data"]["item_id"] for t in task_list]
        first = listed[0]["data"]
        served = server.api("GET", first["image"])  # the URL review_sample wrote, as served
        sha = items.filter(pl.col("item_id") == first["item_id"])["sha256"][0]
        assert served.content == _png(sha)

        labelled = listed[:LABELLED_TASKS]
        started = time.time()
        _label_in_browser(server, project, [t["id"] for t in labelled], tmp_path)
        timings["browser"] = time.time() - started

        exports = {
            shape: server.api("GET", f"/api/projects/{project}/export?exportType={shape}").content
            for shape in ("JSON", "JSON_MIN")
        }
    finally:
        lss.stop(server)
    print("label studio timings (s):", {k: round(v, 1) for k, v in timings.items()})

    known = set(items["item_id"].to_list())
    parsed = {}
    for shape, data in exports.items():
        rows, rejected = parse_export(data, shape, known)
        assert rejected == [], (shape, rejected)
        parsed[shape] = sorted(
            (r["item_id"], r["copy"], r["field"], r["label"], r["rater"], r["task_id"])
            for r in rows
        )
    assert parsed["JSON"] == parsed["JSON_MIN"]  # both export shapes read the same
    clicked = sorted(
        (t["data"]["item_id"], t["data"]["copy"], f, answer, None, str(t["id"]))
        for n, t in enumerate(labelled)
        for f, answer in _answers(n).items()
    )
    assert [r[:4] + (None,) + r[5:] for r in parsed["JSON"]] == clicked

    # the export goes where raters put it; the sensor and human_validation take it from there
    store.write_bytes(f"review/{ROUND}/labels/label-studio-export.json", exports["JSON"])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("review_rounds", [ROUND])
    tick = _tick(instance, store)
    assert isinstance(tick, dg.SensorResult) and len(tick.run_requests) == 1
    labels = read_partition_table(store, "review_labels", ROUND, "labels")
    assert labels.height == len(clicked)
    assert read_partition_table(store, "review_labels", ROUND, "rejected").height == 0
    assert labels["lead_time"].min() > 0  # the editor's own timing of each annotation
    assert labels["rater"].n_unique() == 1  # Label Studio exports the user's id, not the email
    assert isinstance(_tick(instance, store, tick.cursor), dg.SkipReason)

    result = dg.materialize(
        [human_validation],
        partition_key=ROUND,
        instance=instance,
        resources={"storage": StorageResource(root=str(store.root))},
        raise_on_error=False,
    )
    assert result.asset_materializations_for_node("human_validation"), result
    summary = read_partition_table(store, "human_validation", ROUND, "summary")
    gold_items = set(items.filter(pl.col("is_gold"))["item_id"].to_list())
    labelled_items = {t["data"]["item_id"] for t in labelled} - gold_items
    assert summary["labelled_items"][0] == len(labelled_items)
    leads = [a["lead_time"] for t in json.loads(exports["JSON"]) for a in t["annotations"]]
    assert summary["lead_time_median_s"][0] == pytest.approx(float(np.median(leads)))
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["human_validation_enough_labels"] is False  # a few tasks are not a round
    assert read_manifest(store, "human_validation", ROUND)["info"]["summary"]
