"""Text tokenizers for the bundled CLIP architectures.

open_clip's byte-level BPE (CLIP's English vocabulary) has almost no Japanese: of the 228
distinct characters of the generated Japanese world 13 are one token, the rest two or three
byte pieces shared with unrelated characters (``赤`` and ``円`` are two tokens each, a shape
word 2-8), so a small text tower trained from scratch must first learn to assemble characters
out of bytes before it can learn what they mean (a Japanese world sentence is 45 tokens on
average against 11.7 for its English twin).

:class:`CjkCharTokenizer` keeps the BPE for everything else and gives every character of the
CJK blocks below its own id after the BPE vocabulary: one token per character, as Japanese
and Chinese models commonly use. It is an architecture choice, never applied to a model
trained without it: the model name says which tokenizer a model takes (``realsyn-tiny-cjk``:
``realsyn-tiny`` with a text vocabulary of ``BPE_VOCAB + CJK_SIZE``, pooled at the end token
by its id: open_clip's default pools at the highest id, which is a CJK character here), and the
name is part of every vector's model identity.
"""

from __future__ import annotations

import hashlib

import regex
from open_clip.tokenizer import SimpleTokenizer

# Inclusive code point ranges given a token per character: CJK symbols and punctuation,
# hiragana, katakana (U+3000-30FF); the CJK unified ideographs (U+4E00-9FFF); half- and
# full-width forms (U+FF00-FFEF).
CJK_RANGES: tuple[tuple[int, int], ...] = ((0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF))
CJK_SIZE = sum(hi - lo + 1 for lo, hi in CJK_RANGES)
_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES)
_RUNS = regex.compile(f"([{_CLASS}]+)|([^{_CLASS}]+)")


def _offset(char: str) -> int:
    code, start = ord(char), 0
    for lo, hi in CJK_RANGES:
        if lo <= code <= hi:
            return start + code - lo
        start += hi - lo + 1
    raise ValueError(f"{char!r} is not in CJK_RANGES")


def _char(offset: int) -> str:
    for lo, hi in CJK_RANGES:
        if offset <= hi - lo:
            return chr(lo + offset)
        offset -= hi - lo + 1
    raise ValueError(f"offset {offset} is past CJK_RANGES")


class CjkCharTokenizer(SimpleTokenizer):
    """CLIP's BPE, except that each character of ``CJK_RANGES`` is one token
    (id ``BPE vocabulary size + its offset in the ranges``). Text is cleaned as the BPE cleans
    it (ftfy, whitespace, lower case) before it is split into CJK and other runs."""

    def __init__(self, context_length: int = 77) -> None:
        super().__init__(context_length=context_length)
        self.cjk_base = len(self.encoder)
        self.vocab_size = self.cjk_base + CJK_SIZE

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for cjk, other in _RUNS.findall(self.clean_fn(text)):
            if cjk:
                ids.extend(self._cjk_ids(cjk))
                continue
            for token in regex.findall(self.pat, other):
                token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
                ids.extend(self.encoder[piece] for piece in self.bpe(token).split(" "))
        return ids

    def _cjk_ids(self, run: str) -> list[int]:
        return [self.cjk_base + _offset(c) for c in run]

    def _cjk_text(self, offset: int) -> str:
        return _char(offset)

    def decode(self, tokens) -> str:
        out, bpe = [], []
        for token in [int(t) for t in tokens] + [-1]:
            if 0 <= token < self.cjk_base:
                bpe.append(token)
                continue
            if bpe:
                out.append(super().decode(bpe))
                bpe = []
            if token >= self.cjk_base:
                out.append(self._cjk_text(token - self.cjk_base))
        return "".join(out)


WORD_BUCKETS = 1 << 15  # hashed word ids of JaWordTokenizer
MAX_RUN_CHARS = 1024  # of one CJK run given to SudachiPy (the text is cut to 77 tokens anyway)


def word_bucket(word: str) -> int:
    """A stable hash of ``word`` in ``[0, WORD_BUCKETS)`` (blake2b; Python's hash is salted)."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % WORD_BUCKETS


class JaWordTokenizer(CjkCharTokenizer):
    """CLIP's BPE, except that each CJK run is cut into Japanese words by SudachiPy (core
    dictionary, split mode C: the longest units, ``正方形``, ``水玉模様``) and each word is one
    token, its id ``BPE vocabulary size + word_bucket(word)`` (the hashing trick: no vocabulary
    to ship; two words share an id only by a hash collision, ~1 in 32k per pair). A Japanese
    world sentence is ~12 tokens, as its English twin."""

    def __init__(self, context_length: int = 77) -> None:
        super().__init__(context_length=context_length)
        from sudachipy import Dictionary, SplitMode

        self._words = Dictionary(dict="core").create(SplitMode.C)
        self.vocab_size = self.cjk_base + WORD_BUCKETS

    def _cjk_ids(self, run: str) -> list[int]:
        return [
            self.cjk_base + word_bucket(m.surface())
            for m in self._words.tokenize(run[:MAX_RUN_CHARS])
            if m.surface().strip()
        ]

    def _cjk_text(self, offset: int) -> str:
        """A hashed word shows as ``<w:bucket>`` when decoded (hashes are not inverted)."""
        return f"<w:{offset}>"


# Architectures whose text tower takes a tokenizer other than open_clip's default for them.
TOKENIZERS = {"realsyn-tiny-cjk": CjkCharTokenizer, "realsyn-tiny-ja": JaWordTokenizer}


def get_tokenizer(model_name: str):
    """The tokenizer ``model_name``'s text tower was built for: :data:`TOKENIZERS`, else
    open_clip's own. Fails when the architecture's vocabulary does not fit the tokenizer."""
    import open_clip

    from realsyn.clip import register_model_configs

    register_model_configs()
    kind = TOKENIZERS.get(model_name)
    if kind is None:
        return open_clip.get_tokenizer(model_name)
    text_cfg = open_clip.get_model_config(model_name)["text_cfg"]
    tokenizer = kind(context_length=text_cfg["context_length"])
    if text_cfg["vocab_size"] != tokenizer.vocab_size:
        raise ValueError(
            f"{model_name}: text vocab_size {text_cfg['vocab_size']}, but {kind.__name__} "
            f"gives {tokenizer.vocab_size} ids"
        )
    # open_clip's default pools the text at the highest id (CLIP's end token): here CJK ids are
    # higher, so the tower must pool at the end token by its id
    if (text_cfg.get("pool_type"), text_cfg.get("eos_id")) != ("eos", tokenizer.eot_token_id):
        raise ValueError(
            f"{model_name}: text pooling must be pool_type 'eos' with eos_id "
            f"{tokenizer.eot_token_id} (ids above the end token), got "
            f"{text_cfg.get('pool_type', 'argmax')!r}"
        )
    return tokenizer
