"""The drift profile is one compact line on the materialization page, and the drift check still
finds the previous materialization's profile (and old JSON entries) in the event log."""

import json

import dagster as dg
import numpy as np

from checks.drift import PROFILE_KEY, drift_outputs, profile_from_metadata, profile_metadata
from realsyn.drift import DriftParams, histogram, profile

EDGES = [0.0, 0.25, 0.5, 0.75, 1.0]


def _profile(shift: float) -> dict:
    values = np.random.default_rng(0).uniform(0, 0.5, 400) + shift
    return profile({"score": histogram(values, EDGES)}, {"top_k": 3})


def test_profile_is_one_compact_line_and_round_trips():
    current = _profile(0.0)
    value = profile_metadata(current)
    assert isinstance(value, dg.TextMetadataValue) and "\n" not in value.text
    assert len(value.text) == len(json.dumps(current, separators=(",", ":")))
    assert profile_from_metadata(value) == current
    assert profile_from_metadata(dg.MetadataValue.json(current)) == current  # older entries
    assert profile_from_metadata(dg.MetadataValue.text("not json")) is None
    assert profile_from_metadata(None) is None


def test_the_check_reads_back_the_previous_profile(dagster_home):
    shift = {"value": 0.0}

    @dg.asset(check_specs=[dg.AssetCheckSpec("stage_distribution_stable", asset="stage")])
    def stage(context: dg.AssetExecutionContext):
        metadata, checks = drift_outputs(context, "stage", _profile(shift["value"]), DriftParams())
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    instance = dg.DagsterInstance.get()

    def run() -> tuple[dg.AssetCheckEvaluation, dg.MetadataValue]:
        result = dg.materialize([stage], instance=instance)
        mat = result.asset_materializations_for_node("stage")[0]
        return result.get_asset_check_evaluations()[0], mat.metadata[PROFILE_KEY]

    first, entry = run()
    assert isinstance(entry, dg.TextMetadataValue) and "\n" not in entry.text
    assert first.metadata["comparisons"].value == 0  # nothing to compare with yet
    same, _ = run()
    assert same.passed and same.metadata["comparisons"].value >= 1
    shift["value"] = 0.5
    moved, _ = run()
    assert not moved.passed  # the previous profile was found and the shift seen
