"""Hostile corpus shards written in memory (issue 19's chaos test and the readers' tests)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq


def obelics_rows(n: int, image: str = "../images/horse.jpg") -> list[dict]:
    """n small OBELICS records: one sentence and one image each."""
    return [
        {
            "texts": [
                f"Farm {i}: a red kite circles above the green hill near the old barn.",
                None,
            ],
            "images": [None, image],
            "metadata": json.dumps([None, {"alt_text": "a brown horse in a field"}]),
            "general_metadata": json.dumps({"url": f"https://hostile.invalid/obelics/{i}"}),
        }
        for i in range(n)
    ]


def parquet_with_corrupt_row_group(rows: list[dict], rows_per_group: int, bad_group: int) -> bytes:
    """An OBELICS parquet whose ``bad_group``-th row group has its first column's pages
    overwritten (its page header no longer deserializes); the footer stays valid."""
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=rows_per_group)
    data = bytearray(buf.getvalue())
    column = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(bad_group).column(0)
    start = column.data_page_offset
    for k in range(start + 4, start + column.total_compressed_size - 2):
        data[k] = 0xFF
    return bytes(data)


def warc_response(number: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    """One WARC response record holding an HTTP 200 with ``body``."""
    payload = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n".encode() + body
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: https://hostile.invalid/warc/{number}\r\n"
        "WARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{number:012d}>\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload + b"\r\n\r\n"


def truncated_warc(pages: list[str]) -> bytes:
    """Whole response records for ``pages``, then one more whose payload is cut in half (the
    file ends mid-record, as an interrupted download leaves it)."""
    whole = b"".join(warc_response(i, page.encode()) for i, page in enumerate(pages))
    last = warc_response(len(pages), ("<p>" + "A cut page about boats. " * 200 + "</p>").encode())
    return whole + last[: len(last) // 2]
