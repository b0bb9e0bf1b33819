"""realsyn_assets.metadata.ui_order: what a user reads first comes first in the UI."""

from realsyn_assets.metadata import ui_order


def test_funnel_plots_previews_identity_numbers_then_machine_entries():
    metadata = {
        "version": "abc",
        "total": 10,
        "kept_share": 0.5,
        "drift_profile": {},
        "params": {},
        "examples": "| a |",
        "short_side_histogram": "![h](data:)",
        "funnel": "| stage |",
        "model": "m",
        "location": "/x",
        "loss_plot": "![l](data:)",
        "kept": 5,
    }
    assert list(ui_order(metadata)) == [
        "funnel",
        "short_side_histogram",
        "loss_plot",
        "examples",
        "params",
        "model",
        "total",
        "kept_share",
        "kept",
        "version",
        "drift_profile",
        "location",
    ]
    assert ui_order(metadata) == metadata  # same entries, only the order changes
