"""clean_images: get every referenced image's bytes, decode safely, score and filter.

Score, then decide: decoding records width/height/aspect/hashes; :func:`decide_images` turns
scores into ``keep``/``drop`` with a reason and can be re-run with other thresholds on the
stored table, without touching a single image again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from realsyn.fetch import FetchResult, SafeFetcher
from realsyn.image_decode import DecodeParams, inspect_image
from realsyn.schemas import CLEAN_IMAGES_SCHEMA, FETCH_ERRORS, decide, frame_from_rows
from realsyn.storage import Storage, StorageError


@dataclass(frozen=True)
class ImageFilterParams:
    """The paper's quality rule: shorter side >= 100 px and aspect ratio within [1/3, 3]."""

    min_side: int = 100
    max_aspect: float = 3.0


@dataclass
class ImageBatchResult:
    table: pl.DataFrame
    blobs: dict[str, bytes]  # sha256 -> bytes of every decodable image
    stats: dict[str, int]


def _raw_url(item: dict) -> str | None:
    if item.get("image_url"):
        return item["image_url"]
    if item.get("image_path"):
        return item["image_path"]
    if item.get("image_bytes") is not None:
        return "data:"
    return item.get("image_ref")


def _load_local(corpus: Storage, path: str) -> tuple[bytes | None, str | None, str | None]:
    try:
        return corpus.read_bytes(path), None, None
    except StorageError as err:
        reason = "path_escapes_root" if "escapes" in str(err) else "missing_file"
        return None, reason, str(err)[:200]


def _fetch_error(result: FetchResult) -> str:
    return (
        "http_error" if (result.error or "").startswith("http_") else result.error or "fetch_failed"
    )


def curate_images(
    items: pl.DataFrame,
    shard: str,
    corpus: Storage,
    fetcher: SafeFetcher | None,
    decode: DecodeParams | None = None,
    filters: ImageFilterParams | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
    fetch_progress: Callable[[int, int], None] | None = None,
) -> ImageBatchResult:
    """Image items of one ``raw_documents`` partition -> one clean_images row per item.

    URL images are fetched only when a ``fetcher`` is given; otherwise they are recorded as
    ``not_fetched`` (offline runs). Decoding runs on ``workers`` threads (Pillow releases the GIL).
    ``fetch_progress(done, total)`` follows the URL fetches, ``progress`` the decodes.
    """
    started = time.perf_counter()
    decode = decode or DecodeParams()
    images = items.filter(pl.col("kind") == "image").sort("doc_id", "position").to_dicts()
    rows: list[dict] = []
    payloads: list[bytes | None] = []
    url_slots: list[int] = []
    for item in images:
        row = {
            "image_id": item["item_id"],
            "doc_id": item["doc_id"],
            "position": item["position"],
            "shard": shard,
            "raw_image_url": _raw_url(item),
        }
        data = None
        if item.get("ref_error"):
            row.update(
                source="ref_error", error=item["ref_error"], error_detail=item.get("image_ref")
            )
        elif item.get("image_bytes") is not None:
            row["source"], data = "bytes", item["image_bytes"]
        elif item.get("image_path"):
            row["source"] = "path"
            data, err, detail = _load_local(corpus, item["image_path"])
            if err:
                row.update(error=err, error_detail=detail)
        else:
            row["source"] = "url"
            if fetcher is None:
                row.update(error="not_fetched", error_detail="no fetcher enabled (offline run)")
            else:
                url_slots.append(len(rows))
        rows.append(row)
        payloads.append(data)

    if url_slots and fetcher is not None:
        fetched = fetcher.fetch_many(
            [rows[i]["raw_image_url"] for i in url_slots], progress=fetch_progress
        )
        for slot, result in zip(url_slots, fetched, strict=True):
            rows[slot]["fetch_status"] = result.status
            if result.error:
                rows[slot].update(error=_fetch_error(result), error_detail=result.detail)
            else:
                payloads[slot] = result.data

    todo = [i for i, data in enumerate(payloads) if data is not None]
    blobs: dict[str, bytes] = {}

    def work(i: int):
        return i, inspect_image(payloads[i], decode)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, (i, dec) in enumerate(pool.map(work, todo), 1):
            row = rows[i]
            row.update(
                sha256=dec.sha256,
                n_bytes=dec.n_bytes,
                format=dec.format,
                mode=dec.mode,
                width=dec.width,
                height=dec.height,
                n_frames=dec.n_frames,
                exif_orientation=dec.exif_orientation,
                phash=dec.phash,
            )
            if dec.error:
                row.update(error=dec.error, error_detail=dec.error_detail)
            else:
                row["aspect"] = dec.width / dec.height if dec.height else None
                blobs[dec.sha256] = payloads[i]
            if progress:
                progress(done, len(todo))

    table = decide_images(
        frame_from_rows(rows, CLEAN_IMAGES_SCHEMA), filters or ImageFilterParams()
    )
    stats = image_stats(table)
    stats["decode_ms"] = int((time.perf_counter() - started) * 1000)
    return ImageBatchResult(table=table, blobs=blobs, stats=stats)


def decide_images(table: pl.DataFrame, params: ImageFilterParams) -> pl.DataFrame:
    """(Re)derive ``decision``/``reason`` from stored scores: first error, then size, then aspect."""
    short = pl.min_horizontal("width", "height")
    aspect = pl.col("aspect")
    reason = (
        pl.when(pl.col("error").is_not_null())
        .then(pl.col("error"))
        .when(short < params.min_side)
        .then(pl.lit("too_small"))
        .when((aspect > params.max_aspect) | (aspect < 1.0 / params.max_aspect))
        .then(pl.lit("bad_aspect"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return decide(table, reason)


def image_stats(table: pl.DataFrame) -> dict[str, int]:
    """The funnel: total -> with bytes (fetched) -> decoded -> size/aspect filters -> kept."""
    return funnel_from_reasons(table["reason"].to_list())


def funnel_from_reasons(reasons_per_image: list[str | None]) -> dict[str, int]:
    """Funnel counts from one reason per image (None = kept); dedup reasons count last."""
    return funnel_from_counts(Counter(reasons_per_image))


def funnel_from_counts(counts: Mapping[str | None, int]) -> dict[str, int]:
    """``funnel_from_reasons`` from the images per reason (None = kept): counts add up across
    parts of a table."""
    reasons = {r: n for r, n in counts.items() if r is not None and n}
    total = sum(counts.values())
    no_bytes = sum(n for r, n in reasons.items() if r in FETCH_ERRORS)
    later = ("too_small", "bad_aspect", "exact_dup", "near_dup", "semantic_dup")
    decode_failed = sum(n for r, n in reasons.items() if r not in FETCH_ERRORS and r not in later)
    stats = {
        "total": total,
        "fetched": total - no_bytes,
        "decoded": total - no_bytes - decode_failed,
        "too_small": reasons.get("too_small", 0),
        "bad_aspect": reasons.get("bad_aspect", 0),
    }
    stats["kept"] = total - sum(reasons.values())
    stats.update({f"dropped_{r}": n for r, n in sorted(reasons.items())})
    return stats
