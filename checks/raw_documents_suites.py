"""GX suites of raw_documents, built from the schema constants in :mod:`realsyn.schemas`."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect
from realsyn.schemas import (
    ITEM_KINDS,
    REJECT_REASONS,
)


def _count_image_refs(items: pl.DataFrame) -> pl.DataFrame:
    refs = ["image_url", "image_path", "image_bytes", "ref_error"]
    return items.with_columns(
        n_refs=pl.sum_horizontal(pl.col(c).is_not_null().cast(pl.Int8) for c in refs)
    )


RAW_DOCUMENTS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="raw_documents_doc_ids_unique",
        table="documents",
        description="Every document has a non-null doc_id that is unique in the partition.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "doc_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "doc_id"}),
        ],
    ),
    CheckDef(
        name="raw_documents_items_belong_to_documents",
        table="items",
        description="Every item's doc_id names a document of the same partition.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "doc_id", "value_set": t["documents"]["doc_id"].to_list()},
            ),
            Expect("ExpectColumnValuesToBeUnique", {"column": "item_id"}),
        ],
    ),
    CheckDef(
        name="raw_documents_items_well_formed",
        table="items",
        description="Items are text or image; text items have text; image items exactly one "
        "reference (url, path, bytes) or the reason it is unusable.",
        prepare=_count_image_refs,
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": list(ITEM_KINDS)}
            ),
            Expect(
                "ExpectColumnValuesToNotBeNull", {"column": "text", "row_condition": 'kind=="text"'}
            ),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "n_refs",
                    "min_value": 1,
                    "max_value": 1,
                    "row_condition": 'kind=="image"',
                },
            ),
        ],
    ),
    CheckDef(
        name="raw_documents_rejection_reasons_known",
        table="rejected",
        description="Every rejected record carries a known reason code.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "reason"}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(REJECT_REASONS)},
            ),
        ],
        blocking=False,
    ),
)
