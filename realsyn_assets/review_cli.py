"""``realsyn review new|status``: start a review round, and see where each round stands.

    realsyn review new [--per-stratum N] [--double-share F] [--gold-items N] [--seed N]
                       [--scopes corpus,document,hybrid]
    realsyn review validate
    realsyn review status

``new`` adds the next round (``r001``, ``r002``, ...) to the instance's ``review_rounds``
partitions and materializes its ``review_sample``: the folder ``review/<round>/`` under the
data root then holds the Label Studio tasks, labelling config, images and rater guide.
``validate`` does what ``review_labels_sensor`` does, once, without the daemon: parses every
round's exports and materializes its ``human_validation``. ``status`` prints, per round, the sample, the labels found and the validation's figures.
"""

import argparse
import os
from pathlib import Path


def _instance_and_defs():
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    import dagster as dg

    from realsyn_assets.definitions import defs

    return dg.DagsterInstance.get(), defs


def next_round_key(existing: list[str]) -> str:
    numbers = [int(k[1:]) for k in existing if k.startswith("r") and k[1:].isdigit()]
    return f"r{max(numbers, default=0) + 1:03d}"


def new_round(args: argparse.Namespace) -> int:
    import dagster as dg

    from realsyn_assets.review import review_folder, review_rounds

    instance, defs = _instance_and_defs()
    key = next_round_key(instance.get_dynamic_partitions(review_rounds.name))
    instance.add_dynamic_partitions(review_rounds.name, [key])
    config = {
        k: v
        for k, v in {
            "per_stratum": args.per_stratum,
            "double_share": args.double_share,
            "gold_items": args.gold_items,
            "seed": args.seed,
            "scopes": args.scopes.split(",") if args.scopes else None,
        }.items()
        if v is not None
    }
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        partition_key=key,
        asset_selection=[dg.AssetKey("review_sample")],
        run_config={"ops": {"review_sample": {"config": config}}} if config else {},
        raise_on_error=False,
    )
    if not result.success:
        instance.delete_dynamic_partition(review_rounds.name, key)
        print(f"[realsyn] review round {key} failed; see the run in the UI (round removed)")
        return 1
    storage = defs.resources["storage"].process_config_and_initialize().get()
    folder = storage.uri(review_folder(key))
    meta = result.asset_materializations_for_node("review_sample")[0].metadata
    print(
        f"[realsyn] review round {key}: {meta['items'].value} items, {meta['tasks'].value} tasks "
        f"in {folder}\n"
        f"  1. Label Studio: new project, labelling config {folder}/label_config.xml, import "
        f"{folder}/tasks.json (serve the data root as local files; see RATER_GUIDE.md)\n"
        f"  2. export the annotations (JSON or JSON-MIN) into {folder}/labels/\n"
        "  3. turn on review_labels_sensor (or materialize human_validation); then\n"
        f"     `realsyn review status` and {folder}/recommended_params.toml"
    )
    return 0


def validate(_args: argparse.Namespace) -> int:
    import dagster as dg

    from realsyn.storage import PartitionNotFound, read_manifest
    from realsyn_assets.review import review_rounds
    from realsyn_assets.review_labels import (
        ingest_labels,
        label_file_versions,
        labels_materialization,
    )

    instance, defs = _instance_and_defs()
    storage = defs.resources["storage"].process_config_and_initialize().get()
    failed = 0
    for key in sorted(instance.get_dynamic_partitions(review_rounds.name)):
        try:
            read_manifest(storage, "review_sample", key)
        except PartitionNotFound:
            continue
        if not label_file_versions(storage, key):
            print(f"[realsyn] {key}: no label exports yet")
            continue
        manifest, _ = ingest_labels(storage, key)
        instance.report_runless_asset_event(labels_materialization(manifest, key))
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            partition_key=key,
            asset_selection=[dg.AssetKey("human_validation")],
            raise_on_error=False,
        )
        failed += not result.success
        failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        print(
            f"[realsyn] {key}: human_validation {'ok' if result.success else 'FAILED'}"
            + (f"; checks not passed: {', '.join(failed_checks)}" if failed_checks else "")
        )
    status(_args)
    return 1 if failed else 0


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def status(_args: argparse.Namespace) -> int:
    from realsyn.storage import PartitionNotFound, read_manifest
    from realsyn_assets.review import review_rounds
    from realsyn_assets.review_labels import label_file_versions

    instance, defs = _instance_and_defs()
    storage = defs.resources["storage"].process_config_and_initialize().get()
    rounds = sorted(instance.get_dynamic_partitions(review_rounds.name))
    if not rounds:
        print("[realsyn] no review round yet: `realsyn review new` starts one")
    for key in rounds:
        parts = [key]
        try:
            sample = read_manifest(storage, "review_sample", key)["info"]["stats"]
            parts.append(f"{sample['items']} items / {sample['tasks']} tasks")
        except PartitionNotFound:
            parts.append("not sampled")
        parts.append(f"{len(label_file_versions(storage, key))} export file(s)")
        try:
            s = read_manifest(storage, "human_validation", key)["info"]["summary"]
            band = (
                f"{_f(s['recommended_band_low'])}-{_f(s['recommended_band_high'])}"
                if s.get("recommended_band_low") is not None
                else "none recommended"
            )
            parts.append(
                f"labelled {s['labelled_items']}; precision@1 {_f(s['p1_weighted'])} "
                f"[{_f(s['p1_weighted_low'])}, {_f(s['p1_weighted_high'])}]; "
                f"kappa {_f(s.get('kappa'))}; band {band}"
            )
            scopes = [
                f"{k[len('p1_scope_') :]} {_f(s[k])} [{_f(s[k + '_low'])}, {_f(s[k + '_high'])}]"
                + (f" ({s[k + '_no_text']} with no text)" if s.get(k + "_no_text") else "")
                for k in sorted(s)
                if k.startswith("p1_scope_") and k.count("_") == 2 and s.get(k) is not None
            ]
            if scopes:
                parts.append(f"scopes: {'; '.join(scopes)}; winner: {s.get('scope_winner')}")
        except PartitionNotFound:
            parts.append("not validated yet")
        print("  ".join(parts))
    return 0


def review_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="realsyn review", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="sample the next review round")
    new.add_argument("--per-stratum", type=int, help="images per stratum (default 40)")
    new.add_argument("--double-share", type=float, help="share shown to two raters (0.2)")
    new.add_argument("--gold-items", type=int, help="items with known answers (5)")
    new.add_argument("--seed", type=int)
    new.add_argument(
        "--scopes", help="retrieval scopes compared, comma-separated (corpus,document,hybrid)"
    )
    sub.add_parser("validate", help="parse the label exports and validate every round")
    sub.add_parser("status", help="where each round stands")
    args = parser.parse_args(argv)
    return {"new": new_round, "validate": validate, "status": status}[args.command](args)
