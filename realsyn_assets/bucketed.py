"""The bucketed path of sentence_clusters and retrieval_pairs (realsyn.codebook,
realsyn.buckets) on the graph's own partitions: the shard sources the map tasks read, and the
two steps the assets call. Sources are plain dataclasses so a Ray worker can unpickle them
(their storage must pickle: a local or shared folder)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import numpy as np
import polars as pl

from realsyn.buckets import ShardRetrieval, compact, retrieve_bucketed
from realsyn.codebook import (
    Codebook,
    CodebookParams,
    ShardSource,
    bucket_key,
    build_codebook,
)
from realsyn.embeddings import vectors_from_bytes
from realsyn.engine import Engine
from realsyn.retrieval import ClusterParams, RetrievalParams, RetrievalResult
from realsyn.schemas import IMAGE_DEDUP_SCHEMA
from realsyn.storage import (
    PartitionNotFound,
    Storage,
    partition_dir,
    read_manifest,
    read_partition_file,
    read_partition_table,
)
from realsyn_assets.partitions import shard_partitions

POOL = "sentence_clusters_buckets"  # <POOL>_assign / _pool / _codebook: the bucketed pool
DEDUP = "sentence_dedup"  # <DEDUP>_survival per hash range (+ scratch _keys, _exact, _assign)


@dataclass(frozen=True)
class KeptSentences:
    """A shard's sentences kept by sentence_semantics (sentence_id, text): sentence_dedup's
    input. ``vectors``: only those with a sentence_embeddings vector, and the vectors."""

    store: Storage
    vectors: bool = False
    id_column: str = "sentence_id"

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
        kept = (
            read_partition_table(self.store, "sentence_semantics", shard, "semantics")
            .filter(pl.col("decision") == "keep")
            .select("sentence_id", "text")
        )
        if not self.vectors:
            return kept, np.zeros((kept.height, 0), dtype=np.float32)
        keys = read_partition_table(self.store, "sentence_embeddings", shard, "keys")
        vectors = vectors_from_bytes(
            read_partition_file(self.store, "sentence_embeddings", shard, "vectors.npy")
        )
        mask = keys["sentence_id"].is_in(kept["sentence_id"].implode()).to_numpy()
        frame = (
            keys.filter(pl.Series(mask))
            .select("sentence_id")
            .join(kept, on="sentence_id", how="left", maintain_order="left")
        )
        return frame, np.asarray(vectors[mask], dtype=np.float32)


@dataclass(frozen=True)
class KeptImageVectors:
    """A shard's kept images' contents (sha256, phash), one row per image_embeddings vector of
    a kept content, and the vectors: image_dedup's semantic input."""

    store: Storage
    id_column: str = "sha256"

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
        kept = (
            shard_clean_images(self.store, shard)
            .filter(pl.col("decision") == "keep")
            .select("sha256", "phash")
            .unique("sha256", keep="first", maintain_order=True)
        )
        keys = read_partition_table(self.store, "image_embeddings", shard, "keys")
        vectors = vectors_from_bytes(
            read_partition_file(self.store, "image_embeddings", shard, "vectors.npy")
        )
        mask = keys["key"].is_in(kept["sha256"].implode()).to_numpy()
        frame = (
            keys.filter(pl.Series(mask))
            .select(sha256="key")
            .join(kept, on="sha256", how="left", maintain_order="left")
        )
        return frame, np.asarray(vectors[mask], dtype=np.float32)


def shard_clean_images(store: Storage, shard: str) -> pl.DataFrame:
    """One shard's clean_images table (an image_dedup map task's input)."""
    return read_partition_table(store, "clean_images", shard, "images")


def embedded_images(store: Storage, shards: list[str]) -> list[str]:
    """The ``shards`` (sorted) whose image_embeddings partition is committed."""
    out = []
    for shard in sorted(shards):
        try:
            read_manifest(store, "image_embeddings", shard)
        except PartitionNotFound:
            continue
        out.append(shard)
    return out


def shard_image_dedup(store: Storage, shard: str) -> pl.DataFrame:
    """image_dedup's survival rows of one shard: its dropped images and its slice of each
    pHash range."""
    from realsyn.bucket_image_dedup import shard_image_survival

    shards = read_partition_table(store, "image_dedup", None, "shards")["shard"]
    ranges = read_partition_table(store, "image_dedup", None, "ranges")["range"].to_list()
    at = shards.index_of(shard)
    if at is None:  # a shard image_dedup did not see
        return pl.DataFrame(schema=IMAGE_DEDUP_SCHEMA)
    return shard_image_survival(store, "image_dedup", ranges, int(at), shard)


def all_image_dedup(store: Storage) -> pl.DataFrame:
    """Every shard's image survival rows (evaluation, bias, small corpora)."""
    shards = read_partition_table(store, "image_dedup", None, "shards")["shard"].to_list()
    frames = [shard_image_dedup(store, s) for s in shards]
    return pl.concat([pl.DataFrame(schema=IMAGE_DEDUP_SCHEMA), *frames]).sort("image_id")


def shard_dedup(store: Storage, shard: str) -> pl.DataFrame:
    """sentence_dedup's survival rows of one shard: its slice of each hash range."""
    from realsyn.bucket_dedup import shard_survival

    shards = read_partition_table(store, DEDUP, None, "shards")["shard"]
    ranges = read_partition_table(store, DEDUP, None, "ranges")["range"].to_list()
    at = shards.index_of(shard)
    if at is None:  # a shard sentence_dedup did not see: no survivor yet
        return shard_survival(store, DEDUP, [], 0)
    return shard_survival(store, DEDUP, ranges, int(at))


def all_dedup(store: Storage) -> pl.DataFrame:
    """Every shard's survival rows (tests and small corpora: it holds every sentence)."""
    shards = read_partition_table(store, DEDUP, None, "shards")["shard"].to_list()
    return pl.concat([shard_dedup(store, s) for s in shards]).sort("sentence_id")


@dataclass(frozen=True)
class SurvivingSentences:
    """A shard's sentence_embeddings rows that survive sentence_dedup, with their text."""

    store: Storage
    id_column: str = "sentence_id"

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
        keys = read_partition_table(self.store, "sentence_embeddings", shard, "keys")
        vectors = vectors_from_bytes(
            read_partition_file(self.store, "sentence_embeddings", shard, "vectors.npy")
        )
        survival = shard_dedup(self.store, shard)
        alive = survival.filter(pl.col("survives"))["sentence_id"]
        mask = keys["sentence_id"].is_in(alive.implode()).to_numpy()
        texts = read_partition_table(self.store, "sentence_semantics", shard, "semantics")
        frame = (
            keys.filter(pl.Series(mask))
            .select("sentence_id")
            .with_columns(shard=pl.lit(shard))
            .join(
                texts.select("sentence_id", "text"),
                on="sentence_id",
                how="left",
                maintain_order="left",
            )
        )
        return frame, vectors[mask]


@dataclass(frozen=True)
class SurvivingImages:
    """A shard's images that survive image_dedup and their vectors (retrieval_pairs' input)."""

    store: Storage
    model: str
    id_column: str = "image_id"

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
        from realsyn_assets.retrieval import _shard_images

        return _shard_images(self.store, shard, self.model)


def codebook_params(params: ClusterParams) -> CodebookParams:
    return CodebookParams(
        sentences_per_cluster=params.sentences_per_cluster,
        iterations=params.iterations,
        max_points_per_centroid=params.max_points_per_centroid,
        seed=params.seed,
    )


def embedded_shards(store: Storage, shards: list[str]) -> list[str]:
    """The ``shards`` (sorted) whose sentence_embeddings partition is committed."""
    out = []
    for shard in sorted(shards):
        try:
            read_manifest(store, "sentence_embeddings", shard)
        except PartitionNotFound:
            continue
        out.append(shard)
    return out


def cluster_buckets(
    engine: Engine, store: Storage, shards: list[str], params: ClusterParams
) -> tuple[Codebook, pl.DataFrame]:
    """The bucketed codebook over the surviving sentences of ``shards``, and its members
    (sentence_id, shard, cluster, text) bucket by bucket, in cluster order."""
    book = build_codebook(
        engine, SurvivingSentences(store), shards, store, POOL, codebook_params(params)
    )
    return book, pool_members(store, book)


def pool_members(store: Storage, book: Codebook) -> pl.DataFrame:
    from realsyn.bucket_io import open_sorted

    frames = []
    for b in np.nonzero(book.bucket_rows)[0].tolist():
        with open_sorted(store, f"{POOL}_pool", bucket_key(b)) as part:
            frames.append(part.all()[0].select("sentence_id", "shard", "cluster", "text"))
    return pl.concat(frames)


def retrieve_shard(
    engine: Engine, store: Storage, shard: str, model: str, params: RetrievalParams
) -> tuple[RetrievalResult, list[str], list[str]]:
    """One shard's retrieval against the bucketed pool: (result indexing the returned lists of
    sentence ids and texts). Its routes and hits are the shard's own (``<POOL>_work/<shard>``),
    so shards retrieved at the same time never share a file, and are deleted once merged."""
    work = f"{POOL}_work/{partition_dir(shard)}"
    found: ShardRetrieval = next(
        retrieve_bucketed(
            engine,
            SurvivingImages(store, model),
            [shard],
            store,
            POOL,
            params,
            carry=("sentence_id", "text"),
            work=work,
        )
    )
    for part in ("routes", "hits"):  # scratch: c copies of the shard's vectors, not kept
        store.delete_prefix(f"{work}_{part}")
    result, ids = compact(found, "sentence_id")
    return result, ids, found.sentences["text"].to_list()


def document_sentences(store: Storage, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
    """One shard's pool sentences (the ones that survive sentence_dedup and have an embedding)
    with their document and item position: (sentence_id, doc_id, position, text; vectors).
    The document scope's whole input: an image's document is in the image's own shard."""
    frame, vectors = SurvivingSentences(store).load(shard)
    where = read_partition_table(store, "sentences", shard, "sentences").select(
        "sentence_id", "doc_id", "position"
    )
    frame = frame.join(where, on="sentence_id", how="left", maintain_order="left")
    return frame.select("sentence_id", "doc_id", "position", "text"), np.asarray(
        vectors, dtype=np.float32
    )


def materialized_shards(context, store: Storage, asset: str) -> tuple[list[str], list[str]]:
    """(shards whose ``asset`` partition is committed, shards without one: warned); fails
    when no shard has one. Reads manifests only: the map tasks read the tables."""
    have, missing = [], []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            read_manifest(store, asset, shard)
            have.append(shard)
        except PartitionNotFound:
            missing.append(shard)
    if missing:
        context.log.warning(f"{len(missing)} shard(s) have no {asset} yet: {missing[:10]}")
    if not have:
        raise dg.Failure(description=f"no {asset} partition is materialized yet")
    return have, missing


def shard_word_counts(store: Storage, shard: str) -> pl.DataFrame:
    """One shard's (word, count) table of ``sentences`` (a word_frequencies map task)."""
    return read_partition_table(store, "sentences", shard, "word_counts")


__all__ = [
    "ShardSource",
    "cluster_buckets",
    "retrieve_shard",
    "embedded_shards",
    "document_sentences",
]
