"""HTML page -> main-content text blocks and ``<img>`` references, in document order.

Parsing is selectolax's Lexbor backend (an HTML5 parser, tolerant like a browser). We drop
what is never main content (scripts, styles, navigation, headers, footers, asides, forms,
elements whose ARIA role is navigation/banner/contentinfo, hidden elements) and walk the rest:
inline text accumulates into the current block, block-level elements and images close it.
An image inside a ``<figure>`` takes that figure's ``<figcaption>`` as its caption.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

SKIP_TAGS = frozenset(
    "script style noscript template nav header footer aside form iframe svg button select "
    "textarea head object embed canvas video audio map".split()
)
SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "menu", "search", "dialog"})
BLOCK_TAGS = frozenset(
    "p div section article main h1 h2 h3 h4 h5 h6 li ul ol dl dt dd blockquote pre table tr td "
    "th caption figure figcaption br hr address details summary center body".split()
)
_WS = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _skipped(node) -> bool:
    if node.tag in SKIP_TAGS:
        return True
    attrs = node.attributes
    if (attrs.get("role") or "").lower() in SKIP_ROLES:
        return True
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _image_src(attrs: dict) -> str | None:
    for name in ("src", "data-src", "data-original", "data-lazy-src"):
        value = attrs.get(name)
        if value and value.strip() and not value.strip().startswith("data:image/gif;base64,R0lGOD"):
            return value.strip()
    srcset = attrs.get("srcset") or attrs.get("data-srcset")
    if srcset:
        return srcset.split(",")[0].strip().split(" ")[0] or None
    return None


def extract_blocks(html: str) -> tuple[str | None, list[dict]]:
    """Parse a page; return (canonical url if declared, ordered raw blocks).

    Blocks are ``{"kind": "text", "text"}`` or ``{"kind": "image", "src", "alt_text",
    "caption"}``; image ``src`` is as written (the caller resolves it).
    """
    tree = LexborHTMLParser(html)
    canonical = None
    for sel in ('link[rel="canonical"]', 'meta[property="og:url"]'):
        node = tree.css_first(sel)
        if node is not None:
            canonical = (
                node.attributes.get("href") or node.attributes.get("content") or ""
            ).strip()
            if canonical:
                break
    root = tree.body
    if root is None:
        return canonical or None, []
    blocks: list[dict] = []
    buffer: list[str] = []

    def flush() -> None:
        text = _collapse("".join(buffer))
        buffer.clear()
        if text:
            blocks.append({"kind": "text", "text": text})

    # Explicit stack (deep DOMs would overflow recursion); None marks the end of a block.
    stack: list = [(root, None)]
    while stack:
        node, caption = stack.pop()
        if node is None:
            flush()
            continue
        tag = node.tag
        if tag == "-text":
            buffer.append(node.text_content or "")
            continue
        if tag in ("-comment", "!doctype") or _skipped(node):
            continue
        if tag == "img":
            src = _image_src(node.attributes)
            if src:
                flush()
                alt = _collapse(node.attributes.get("alt") or node.attributes.get("title") or "")
                blocks.append({"kind": "image", "src": src, "alt_text": alt, "caption": caption})
            continue
        if tag == "figure":
            cap = node.css_first("figcaption")
            caption = _collapse(cap.text(deep=True)) if cap is not None else caption
        if tag in BLOCK_TAGS:
            flush()
            stack.append((None, None))
        children = list(node.iter(include_text=True))
        stack.extend((child, caption) for child in reversed(children))
    flush()
    return canonical or None, blocks
