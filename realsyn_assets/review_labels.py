"""review_labels (observed by review_labels_sensor) and human_validation of a review round.

Raters' Label Studio exports go to ``review/<round>/labels/``. The sensor (stopped by default)
hashes each ``.json`` file there; when a round's set of file versions differs from the one in
its cursor, it parses them into the round's ``review_labels`` partition (malformed records
become rejected rows, never a failed tick), records the materialization and asks for the
round's ``human_validation`` (run key = the labels' content version, so a repeated tick asks
for nothing new).
"""

import hashlib
import json

import dagster as dg
import polars as pl
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.review_labels_suites import HUMAN_VALIDATION_SUITE
from realsyn.bias import precision_by_class
from realsyn.label_studio import labels_frames
from realsyn.plots import line_svg, svg_markdown
from realsyn.report import preview_markdown
from realsyn.review_stats import (
    ValidationParams,
    recommended_params_toml,
    scope_recommendation,
    validate_round,
)
from realsyn.storage import PartitionNotFound, read_manifest, read_partition_table, write_partition
from realsyn_assets.metadata import ui_order
from realsyn_assets.review import review_folder, review_rounds, review_sample
from resources.storage import StorageResource

review_labels = dg.AssetSpec(
    "review_labels",
    partitions_def=review_rounds,
    deps=[review_sample],
    group_name="review",
    kinds={"json", "parquet"},
    description="The raters' Label Studio exports of a round (review/<round>/labels/*.json), "
    "parsed by review_labels_sensor; malformed records are kept as rejected rows with reasons.",
)


def label_file_versions(store, round_key: str) -> dict[str, str]:
    """Each export file under the round's ``labels/`` with a hash of its bytes (its version)."""
    prefix = f"{review_folder(round_key)}/labels"
    return {
        key[len(prefix) + 1 :]: hashlib.sha256(store.read_bytes(key)).hexdigest()[:16]
        for key in store.list_keys(prefix)
        if key.lower().endswith(".json")
    }


def ingest_labels(store, round_key: str) -> tuple[dict, dict]:
    """Parse the round's exports into its ``review_labels`` partition (same files, same bytes
    and version). Returns (manifest, file versions)."""
    items = read_partition_table(store, "review_sample", round_key, "items")
    prefix = f"{review_folder(round_key)}/labels"
    versions = label_file_versions(store, round_key)
    files = {name: store.read_bytes(f"{prefix}/{name}") for name in versions}
    labels, rejected = labels_frames(files, set(items["item_id"].to_list()))
    stats = {
        "files": len(files),
        "label_rows": labels.height,
        "labelled_items": labels["item_id"].n_unique(),
        "rejected": rejected.height,
        **{
            f"rejected_{r}": n
            for r, n in rejected.group_by("reason").len().sort("reason").iter_rows()
        },
    }
    manifest = write_partition(
        store, "review_labels", round_key, {"labels": labels, "rejected": rejected},
        info={"stats": stats, "files": versions},
    )  # fmt: skip
    return manifest, versions


def labels_materialization(manifest: dict, round_key: str) -> dg.AssetMaterialization:
    """The review_labels event for a parsed round (its data version: the partition's)."""
    return dg.AssetMaterialization(
        "review_labels",
        partition=round_key,
        metadata={**manifest["info"]["stats"], "version": manifest["version"]},
        tags={DATA_VERSION_TAG: manifest["version"]},
    )


@dg.sensor(
    asset_selection=["human_validation"],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def review_labels_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    """New or changed Label Studio exports of a round: record review_labels, judge the round."""
    store = storage.get()
    cursor = json.loads(context.cursor) if context.cursor else {}
    events, runs = [], []
    for key in sorted(context.instance.get_dynamic_partitions(review_rounds.name)):
        try:
            read_manifest(store, "review_sample", key)
        except PartitionNotFound:
            continue  # not sampled yet: nothing to label
        versions = label_file_versions(store, key)
        if not versions or versions == cursor.get(key):
            continue
        manifest, versions = ingest_labels(store, key)
        cursor[key] = versions
        events.append(labels_materialization(manifest, key))
        runs.append(
            dg.RunRequest(
                run_key=f"human_validation:{key}:{manifest['version']}",
                partition_key=key,
                asset_selection=[dg.AssetKey("human_validation")],
            )
        )
    if not events:
        return dg.SkipReason("no new or changed label exports")
    return dg.SensorResult(
        run_requests=runs, asset_events=events, cursor=json.dumps(cursor, sort_keys=True)
    )


class HumanValidationConfig(dg.Config):
    min_labelled_items: int = Field(100, description="Fewer labelled items: a warning.")
    kappa_warn: float = Field(0.6, description="Cohen's kappa below this: a warning.")
    kappa_error: float = Field(0.4, description="Cohen's kappa below this: an error.")
    min_gold_accuracy: float = Field(0.8, description="Rater accuracy on gold below: a warning.")
    min_precision_at_1: float = Field(
        0.5, description="Blocking floor on the weighted precision@1's lower 95% bound."
    )
    band_bins: int = Field(
        ValidationParams.band_bins, description="Equal-count cosine bins for the band."
    )
    band_target: float = Field(
        ValidationParams.band_target,
        description="Each bin of the recommended band has a Wilson lower bound at least this.",
    )


def _previous_summary(store, rounds: list[str], current: str) -> tuple[str, dict] | None:
    for key in sorted((k for k in rounds if k < current), reverse=True):
        try:
            return key, read_manifest(store, "human_validation", key)["info"]["summary"]
        except PartitionNotFound:
            continue
    return None


def _figures(summary: dict) -> dict:
    return {
        k: dg.MetadataValue.float(float(v))
        for k, v in summary.items()
        if isinstance(v, float) and v == v  # NaN is not a figure
    }


def _round_inputs(store, key: str):
    """The round's sampled items, gold items and labels (a clear failure when none are in)."""
    items = read_partition_table(store, "review_sample", key, "items")
    gold = read_partition_table(store, "review_sample", key, "gold")
    try:
        labels = read_partition_table(store, "review_labels", key, "labels")
    except PartitionNotFound as err:
        raise dg.Failure(
            description=f"round {key} has no labels yet: put Label Studio exports into "
            f"{store.uri(review_folder(key))}/labels/ and turn on review_labels_sensor"
        ) from err
    return items, gold, labels


def _released_and_compared(store, key: str, items: pl.DataFrame) -> tuple[str, dict | None]:
    """The round's released scope and the scope setting its other scopes were computed with
    (review_sample's record; None for rounds sampled before it was recorded)."""
    released = items.filter("released") if "released" in items.columns else items
    scope = released["scope"][0] if "scope" in released.columns and released.height else "corpus"
    info = read_manifest(store, "review_sample", key)["info"]
    return scope, info.get("scope_params")


def _drift(context, store, key: str, summary: dict) -> dict:
    """The change of the headline figures since the previous round (empty for the first)."""
    drift = {}
    previous = _previous_summary(
        store, context.instance.get_dynamic_partitions(review_rounds.name), key
    )
    if previous is not None:
        prev_key, prev = previous
        drift["previous_round"] = prev_key
        for k in ("p1_weighted", "p3_weighted", "kappa", "gold_accuracy"):
            if isinstance(prev.get(k), float) and summary[k] == summary[k]:
                drift[f"delta_{k}"] = dg.MetadataValue.float(summary[k] - prev[k])
    return drift


def _metadata(store, key, config, report, size_classes, toml, summary, drift, manifest):
    """The asset page: per-stratum metrics, precision by cosine, raters, the recommended band."""
    bins = report["bins"]
    return ui_order(
        {
            "metrics_table": dg.MetadataValue.md(_strata_markdown(report["strata"])),
            "precision_by_cosine_plot": dg.MetadataValue.md(
                svg_markdown(
                    line_svg(
                        ((bins["cosine_low"] + bins["cosine_high"]) / 2).to_list(),
                        bins["precision"].to_list(),
                        "pair precision by cosine",
                    ),
                    "pair precision by cosine",
                )
                if bins.height > 1
                else "fewer than two cosine bins"
            ),
            "bins_preview": dg.MetadataValue.md(
                preview_markdown(
                    bins.to_dicts(), ["cosine_low", "cosine_high", "n", "precision", "low"]
                )
                if bins.height
                else "no pair labels"
            ),
            "head_vs_tail_preview": dg.MetadataValue.md(
                preview_markdown(
                    size_classes.to_dicts(),
                    ["size_class", "n", "precision_at_1", "low", "high"],
                )
                if size_classes.height
                else "no labelled strata"
            ),
            "raters_preview": dg.MetadataValue.md(
                preview_markdown(report["raters"].to_dicts(), ["rater", "answers", "accuracy"])
            ),
            "scope_comparison": dg.MetadataValue.md(_scopes_markdown(report["scopes"], summary)),
            "scope_winner": summary["scope_winner"],
            "recommended_params": dg.MetadataValue.md(f"```toml\n{toml}```"),
            **_figures(summary),
            **{k: v for k, v in summary.items() if isinstance(v, int)},
            **drift,
            "params": dg.MetadataValue.json(config.model_dump()),
            "location": dg.MetadataValue.path(
                store.uri(f"{review_folder(key)}/recommended_params.toml")
            ),
            "version": manifest["version"],
        }
    )


@dg.asset(
    partitions_def=review_rounds,
    deps=[review_sample, review_labels],
    check_specs=check_specs("human_validation", HUMAN_VALIDATION_SUITE),
    code_version="1",
    group_name="review",
    kinds={"parquet"},
)
def human_validation(
    context: dg.AssetExecutionContext, config: HumanValidationConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """Per-stratum precision with Wilson intervals, rater agreement, and a recommended band."""
    store, key = storage.get(), context.partition_key
    items, gold, labels = _round_inputs(store, key)
    params = ValidationParams(band_bins=config.band_bins, band_target=config.band_target)
    report = validate_round(items, labels, gold, params)
    summary = report["summary"]
    size_classes = precision_by_class(report["strata"])
    low, high = summary["recommended_band_low"], summary["recommended_band_high"]
    scope = scope_recommendation(summary, *_released_and_compared(store, key, items))
    toml = recommended_params_toml(None if low is None else (low, high), key, summary, scope=scope)
    store.write_bytes(f"{review_folder(key)}/recommended_params.toml", toml.encode())
    table = pl.DataFrame([summary]).with_columns(
        pl.col(c).fill_nan(None)
        for c, t in pl.DataFrame([summary]).schema.items()
        if t == pl.Float64
    )
    manifest = write_partition(
        store, "human_validation", key,
        {"strata": report["strata"], "bins": report["bins"], "raters": report["raters"],
         "size_classes": size_classes, "scopes": report["scopes"], "summary": table},
        info={"summary": {k: (None if isinstance(v, float) and v != v else v)
                          for k, v in summary.items()}},
        files={"recommended_params.toml": toml.encode()},
    )  # fmt: skip
    drift = _drift(context, store, key, summary)
    checks = check_results(
        "human_validation", HUMAN_VALIDATION_SUITE, {"summary": table}, config.model_dump()
    )
    return dg.MaterializeResult(
        metadata=_metadata(
            store, key, config, report, size_classes, toml, summary, drift, manifest
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=checks,
    )


def _scopes_markdown(scopes: pl.DataFrame, summary: dict) -> str:
    """Precision@1 per retrieval scope with its Wilson 95% interval, and the verdict."""
    if scopes.height == 0:
        return "no labelled items"
    lines = [
        "| scope | released | sampled | no text | n labelled | precision@1 (95% CI) | weighted |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in scopes.to_dicts():
        ci = f"{row['p1']:.2f} [{row['p1_low']:.2f}, {row['p1_high']:.2f}]" if row["n"] else "-"
        w = f"{row['p1_weighted']:.2f}" if row["p1_weighted"] == row["p1_weighted"] else "-"
        lines.append(
            f"| {row['scope']} | {'yes' if row['released'] else ''} | {row.get('sampled', '-')} "
            f"| {row.get('no_text', '-')} | {row['n']} | {ci} | {w} |"
        )
    winner = summary["scope_winner"]
    no_text = "; ".join(
        f"{r['scope']} {r['no_text']}" for r in scopes.to_dicts() if r.get("no_text")
    )
    note = (
        f"\n\nItems with no text to judge (not in n; the scope found no text for the image): {no_text}."
        if no_text
        else ""
    )
    verdict = (
        f"**{winner}** has the higher precision@1: its lower bound is above every other "
        "scope's estimate (set retrieval_pairs' scope to it)."
        if winner != "no clear winner"
        else "**No clear winner**: no scope's lower bound is above every other's estimate "
        "(label more items, or keep the current scope)."
    )
    return "\n".join(lines) + "\n\n" + verdict + note


def _strata_markdown(strata: pl.DataFrame) -> str:
    if strata.height == 0:
        return "no labelled strata"
    lines = ["| stratum | population | n | precision@1 (95% CI) | precision@3 | syn_text |",
             "|---|---:|---:|---|---|---|"]  # fmt: skip

    def ci(row: dict, p: str) -> str:
        if not row[f"{p}_n"]:
            return "-"
        return f"{row[p]:.2f} [{row[f'{p}_low']:.2f}, {row[f'{p}_high']:.2f}]"

    for row in strata.to_dicts():
        lines.append(
            f"| {row['stratum']} | {row['population']:,} | {row['p1_n']} | {ci(row, 'p1')} "
            f"| {ci(row, 'p3')} | {ci(row, 'syn')} |"
        )
    return "\n".join(lines)
