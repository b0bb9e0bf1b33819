"""The generated world in Japanese (``WorldParams(lang="ja")``): the same scenes and images as
the English world of the same seed, read, split and filtered with Japanese rules, and scored
against its own (Japanese) truth as ``pipeline_evaluation`` scores it."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from realsyn.buckets import sum_word_counts
from realsyn.cat import load_cat_parser
from realsyn.engine import LocalEngine
from realsyn.evaluation import zero_shot_prompts
from realsyn.ja import load_ginza_parser
from realsyn.pipeline_eval import filter_quality
from realsyn.readers import discover_shards, read_shard
from realsyn.semantic import SemanticParams, score_semantics, word_probabilities
from realsyn.sentences import curate_sentences
from realsyn.storage import LocalStorage
from realsyn.world_docs import TRUTH_DIR, WorldParams, build_world, write_world
from realsyn_assets.cli import world_command

SMALL = {"documents": 16, "eval_images": 8, "seed": 2}


def _truth(world, name: str) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(world.files[f"{TRUTH_DIR}/{name}.parquet"]))


def test_same_seed_same_images_other_language_texts():
    en, ja = build_world(WorldParams(**SMALL)), build_world(WorldParams(**SMALL, lang="ja"))
    images = [k for k in en.files if k.endswith(".jpg")]
    assert images and all(en.files[k] == ja.files[k] for k in images)
    cols = ["file", "sha256", "concepts", "dup_group", "dup_kind"]
    assert _truth(en, "images").select(cols).equals(_truth(ja, "images").select(cols))
    en_s, ja_s = _truth(en, "sentences"), _truth(ja, "sentences")
    # the same draws: as many sentences of each label, stating the same concepts
    for table in (en_s, ja_s):
        assert table["label"].value_counts().sort("label").height == 3
    assert sorted(map(tuple, en_s["concepts"].to_list())) == sorted(
        map(tuple, ja_s["concepts"].to_list())
    )
    assert not any("の" in t for t in en_s["text"].to_list())
    described = ja_s.filter(pl.col("label") == "description")["text"].to_list()
    assert all(t.endswith("。") for t in described)
    alt = _truth(ja, "eval")["alt_text"].to_list()
    assert all("の背景" in a for a in alt)  # held-out alt texts in the world's language
    params = json.loads(ja.files[f"{TRUTH_DIR}/world.json"])["params"]
    assert params["lang"] == "ja"


def test_japanese_prompts_name_the_worlds_words():
    ja = zero_shot_prompts("ja")
    assert ja["shape"][0][:3] == ("円", "正方形", "三角形") and ja["colour"][0][0] == "赤い"
    assert zero_shot_prompts("en")["shape"][0][0] == "circle"


class _FixedPerplexity:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts, progress=None) -> list[float]:
        self.seen.extend(texts)
        return [100.0] * len(texts)


@pytest.fixture(scope="module")
def parsers():
    parser, why = load_cat_parser()
    assert parser is not None, why
    ja_parser, why = load_ginza_parser()
    assert ja_parser is not None, why
    return parser, ja_parser


def _filtered(tmp_path, lang: str, parsers) -> tuple[pl.DataFrame, dict, list[str]]:
    """The world through the readers, the sentence stage and the semantic filter; the filter's
    quality against the truth (as pipeline_evaluation measures it)."""
    world = build_world(WorldParams(**SMALL, lang=lang))
    write_world(world, tmp_path)
    corpus = LocalStorage(tmp_path)
    tables, scored, counts, seen = [], [], [], []
    for shard in discover_shards(corpus):
        items = read_shard(corpus, shard.key).tables()["items"]
        result = curate_sentences(items, shard.key, parsers[0], ja_parser=parsers[1])
        tables.append(result.table)
        counts.append(result.word_counts)
    sentences = pl.concat(tables)
    # the corpus-wide counts as word_frequencies sums them, shard by shard
    probabilities = sum_word_counts(LocalEngine(), counts.__getitem__, range(len(counts)))
    assert probabilities.sort("lang", "word").equals(
        word_probabilities(pl.concat(counts)).sort("lang", "word")
    )
    scorer = _FixedPerplexity()
    kept = sentences.filter(pl.col("decision") == "keep")
    scored.append(score_semantics(kept, probabilities, scorer, SemanticParams()))
    seen.extend(scorer.seen)
    quality = filter_quality(sentences, pl.concat(scored), _truth(world, "sentences"))
    semantic = pl.concat(scored).select("sentence_id", semantic="decision")
    return sentences.join(semantic, on="sentence_id", how="left"), quality, seen


def test_japanese_world_through_the_sentence_stage(tmp_path, parsers):
    en_rows, en, en_scored = _filtered(tmp_path / "en", "en", parsers)
    ja_rows, ja, ja_scored = _filtered(tmp_path / "ja", "ja", parsers)
    truth = _truth(build_world(WorldParams(**SMALL, lang="ja")), "sentences")
    labels = dict(zip(truth["text"], truth["label"], strict=True))
    # every true description and narrative comes out of the splitter whole, in Japanese
    extracted = ja_rows.filter(pl.col("text").is_in(list(labels)))
    wanted = {t for t, lab in labels.items() if lab != "boilerplate"}
    assert wanted <= set(extracted["text"].to_list())
    assert set(extracted.filter(pl.col("text").is_in(list(wanted)))["lang"]) == {"ja"}
    assert set(en_rows.filter(pl.col("decision") == "keep")["lang"]) == {"en"}
    # Japanese text gets morphemes and GiNZA, never link-grammar or the English LM
    described = ja_rows.filter(pl.col("text").is_in(list(wanted)))
    assert (described["decision"] == "keep").mean() >= 0.95
    # and the corpus-wide entropy counts morphemes per language: the true sentences pass the
    # semantic filter (a word table without ``lang`` scored them by Latin words: all dropped)
    assert (described["semantic"] == "keep").mean() >= 0.95
    assert set(described["parse_status"]) == {"parsed"}
    assert en_scored and not ja_scored  # perplexity (an English model) only for English rows
    # the filters catch the Japanese boilerplate at least as well as the English (here the
    # English loses narratives to link-grammar and to low entropy over a tiny corpus)
    assert ja["boilerplate_dropped"] > 0 and en["boilerplate_dropped"] > 0
    for key in ("precision", "recall"):
        assert ja[key] >= en[key] - 0.05, (key, en, ja)
    # truth texts match as the stage stores them (ftfy folds the Japanese "！" to "!"): only
    # the page titles and the malformed record's caption are not world sentences, as in English
    assert ja["unmatched_sentences"] == en["unmatched_sentences"], (en, ja)


def test_world_command_writes_a_japanese_world(tmp_path):
    assert world_command(["--out", str(tmp_path), "--documents", "4", "--lang", "ja"]) == 0
    stamp = json.loads((tmp_path / TRUTH_DIR / "world.json").read_text())
    assert stamp["params"]["lang"] == "ja"
    page = (tmp_path / "world/html/shapes-blog/page-000.html").read_text()
    assert "<title>図形 0</title>" in page
