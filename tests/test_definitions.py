from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from realsyn_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_with_every_asset_check_sensor_and_job():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_documents",
        "clean_images",
        "image_dedup",
        "sentences",
        "word_frequencies",
        "sentence_semantics",
        "sentence_dedup",
        "image_embeddings",
        "sentence_embeddings",
        "sentence_clusters",
        "retrieval_pairs",
        "synthetic_texts",
        "balanced_pool",
        "scaled_subsets",
        "release",
        "clip_training",
        "clip_evaluation",
        "pipeline_evaluation",
        "review_sample",
        "review_labels",
        "human_validation",
        "bias_report",
        "clip_finetune",
        "gain_evaluation",
    }
    drift = {
        f"{a}_distribution_stable"
        for a in (
            "raw_documents",
            "clean_images",
            "sentences",
            "sentence_semantics",
            "sentence_clusters",
            "retrieval_pairs",
            "balanced_pool",
        )
    }
    assert {c.name for c in graph.asset_check_keys} - drift == {
        "raw_documents_doc_ids_unique",
        "raw_documents_items_belong_to_documents",
        "raw_documents_items_well_formed",
        "raw_documents_rejection_reasons_known",
        "clean_images_kept_within_bounds",
        "clean_images_image_ids_unique",
        "clean_images_hashes_present",
        "clean_images_decision_consistent",
        "image_dedup_image_ids_unique",
        "image_dedup_duplicates_point_to_survivors",
        "image_dedup_reason_consistent",
        "sentences_word_counts_within_bounds",
        "sentences_no_url_or_emoji_kept",
        "sentences_ids_unique",
        "sentences_provenance_complete",
        "sentences_decision_consistent",
        "sentences_cat_applied",
        "sentence_semantics_entropy_above_threshold",
        "sentence_semantics_perplexity_in_band",
        "sentence_semantics_perplexity_applied",
        "sentence_semantics_decision_consistent",
        "sentence_dedup_ids_unique",
        "sentence_dedup_duplicates_point_to_survivors",
        "image_embeddings_finite_unit_norm",
        "image_embeddings_dimension_matches_model",
        "sentence_embeddings_finite_unit_norm",
        "sentence_embeddings_dimension_matches_model",
        "sentence_clusters_every_sentence_assigned",
        "retrieval_pairs_every_survivor_has_a_row",
        "retrieval_pairs_three_texts",
        "retrieval_pairs_scores_ordered",
        "scaled_subsets_cluster_cap_respected",
        "scaled_subsets_nested",
        "scaled_subsets_no_image_twice",
        "scaled_subsets_three_texts",
        "scaled_subsets_schema_matches_release",
        "synthetic_texts_applied",
        "clip_evaluation_retrieval_above_floor",
        "word_frequencies_words_unique",
        "word_frequencies_probabilities_sum_to_one",
        "balanced_pool_images_unique",
        "balanced_pool_ranks_and_cosines_valid",
        "release_every_row_in_a_shard",
        "release_rows_have_image_and_text",
        "clip_training_finite",
        "clip_training_ran_all_steps",
        "clip_training_beats_chance",
        "pipeline_evaluation_retrieval_precision",
        "pipeline_evaluation_dedup_recall",
        "human_validation_enough_labels",
        "human_validation_rater_agreement_usable",
        "human_validation_rater_agreement_good",
        "human_validation_gold_accuracy",
        "human_validation_precision_floor",
        "bias_report_release_within_cap",
        "bias_report_top_cluster_share",
        "bias_report_source_shares_stable",
        "clip_finetune_ran_all_steps",
        "clip_finetune_split_one_side",
        "gain_evaluation_enough_queries",
        "gain_evaluation_no_regression",
    }
    assert drift <= {c.name for c in graph.asset_check_keys}
    assert [s.name for s in defs.sensors] == [
        "new_shard_sensor",
        "check_alert_sensor",
        "nightly_refresh",
        "review_labels_sensor",
    ]
    assert {j.name for j in defs.jobs} == {
        "ingest_shards",
        "clip_bootstrap",
        "embed_images",
        "evaluation",
        "corpus_stats",
        "semantic_shards",
        "sentence_pool",
        "retrieval_shards",
        "release_pool",
        "release_scales",
        "gain",
    }
    assert set(defs.resources) == {
        "storage",
        "corpus",
        "fetcher",
        "cat_parser",
        "language_model",
        "clip_model",
        "captioner",
        "drift",
        "alerts",
        "stage_params",
        "engine",
    }
    dg.Definitions.validate_loadable(defs)


def test_realsyn_library_never_imports_dagster():
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / "realsyn").rglob("*.py")
    )
    modules = [m.removesuffix(".__init__") for m in modules]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')]\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(modules) >= 10


def test_settings_profile_from_env():
    from realsyn_assets.settings import DEMO_CORPUS, Settings

    s = Settings.from_env({})
    assert s.corpus_root == str(DEMO_CORPUS) and s.data_root.endswith("data")
    s3 = Settings.from_env(
        {
            "REALSYN_DATA_ROOT": "s3://b/p",
            "REALSYN_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "REALSYN_S3_ACCESS_KEY_ID": "k",
        }
    )
    res = s3.resources()["storage"]
    assert res.root == "s3://b/p" and res.endpoint_url == "http://127.0.0.1:9"
    assert s3.s3_keys_from_env
