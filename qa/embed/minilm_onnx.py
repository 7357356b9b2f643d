"""all-MiniLM-L6-v2 on ONNX Runtime, int8: no torch at query time.

The sentence-transformers model is exported once to ONNX (:func:`export`, which needs torch and
the ``onnx`` package) and its weights quantised to int8 (dynamic quantisation, one scale per
output channel), into a cache keyed by the SHA-256 of the model weights. After that,
:class:`OnnxEncoder` encodes with only ``tokenizers``, ``onnxruntime`` and numpy: the model's own
``tokenizer.json``, the transformer on ONNX Runtime, then mean pooling over the attention mask and
L2 normalisation, as the sentence-transformers pipeline (Transformer → mean Pooling → Normalize)
does. int8 runs 2-2.5× faster than float32 here; its vectors stay within cosine
:data:`MIN_COSINE` of the torch ones (an export is only kept when every check text does; mean
0.995 over squad2-dev-5's passages), but they are not the same vectors: an index records the
precision that built it (:data:`PRECISION`) and is only queried at that precision.

Cache: ``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/qa``, else ``~/.cache/qa``; files
``minilm-<sha16>.onnx`` and ``minilm-<sha16>.json`` (the ONNX file's size and SHA-256, checked on
every load, and how the export was verified). Both are written to a temporary file first and
moved into place, so a crash never leaves a half-written model under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.hashing import file_sha256

if TYPE_CHECKING:
    from collections.abc import Sequence

OPSET = 17
PRECISION = "int8"  # what the cached model computes in (torch computes in float32)
# the least cosine to the torch vectors an export must keep on every check text: int8 gives
# 0.98-1.0, a broken export far less
MIN_COSINE = 0.97
FORMAT = 2  # 2: int8 weights. Bump when the export changes in a way that makes older cache files unusable

# Texts the exported model is checked on against torch: short, long (past the truncation
# length), non-ASCII, punctuation, and all of them together as one padded batch.
CHECK_TEXTS = (
    "How many officers has Kenya provided?",
    "x",
    "The harbor of Linden reopened on Monday after a week of repairs; Mayor Clara Voss said "
    "120 workers rebuilt the main pier, at a cost of $4 million.",
    "Zürich, São Paulo and Kraków — 3 cities, 1 report (2025-03-02).",
    " ".join(["The mission's budget was debated again in parliament on Tuesday."] * 40),
)


class CacheError(Exception):
    """A cached ONNX file is missing its record, truncated, altered or cannot be loaded."""


class ExportError(Exception):
    """The model could not be exported, or the export does not reproduce the torch vectors."""


def cache_dir() -> Path:
    from qa.config import Settings

    return Settings().cache_dir


def cache_files(weights_sha256: str, directory: Path | None = None) -> tuple[Path, Path]:
    """The ONNX model file and its JSON record for weights with this SHA-256."""
    folder = directory or cache_dir()
    stem = f"minilm-{weights_sha256[:16]}"
    return folder / f"{stem}.onnx", folder / f"{stem}.json"


@dataclass(frozen=True)
class Pipeline:
    """What the sentence-transformers model does after the transformer, read from its files."""

    max_seq_length: int
    tokenizer_file: Path


def read_pipeline(model_dir: Path) -> Pipeline:
    """The model's pipeline, when it is one this module reproduces: Transformer → mean pooling
    → Normalize, a ``tokenizer.json``, no extra lower-casing. Raises :class:`ExportError`
    naming what differs otherwise."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if kinds != ["Transformer", "Pooling", "Normalize"]:
            raise ExportError(f"modules {kinds} (need Transformer, Pooling, Normalize)")
        pooling_dir = model_dir / str(modules[1].get("path") or "1_Pooling")
        pooling = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
        if modes != ["pooling_mode_mean_tokens"]:
            raise ExportError(f"pooling {modes} (need mean tokens only)")
        bert = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if bert.get("do_lower_case"):
            raise ExportError("do_lower_case is set")
        max_len = int(bert["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ExportError(f"cannot read the model configuration in {model_dir}: {err}") from err
    tokenizer_file = model_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ExportError(f"no tokenizer.json in {model_dir}")
    return Pipeline(max_len, tokenizer_file)


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session + mean pooling + L2 norm. Thread-safe: the tokenizer is
    only configured here, and ``InferenceSession.run`` may be called from several threads.

    Each text runs alone (no padding), on one thread: int8's activations are quantised with one
    scale per call, so a text batched with others would get a slightly different vector (cosine
    ~0.993) than alone. Alone, a text's vector depends on nothing but the text; many texts run
    on ``threads`` workers at once, which on 2 cores is also the fastest way (400 squad2-dev-5
    sentences: 0.78 s, against 1.05 s batched on two threads and 1.84 s for float32 batched).
    The workers are one pool for every caller, so that encodes running at once share them."""

    def __init__(self, onnx_file: Path, pipeline: Pipeline, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.onnx_file = onnx_file
        self.pipeline = pipeline
        tokenizer = Tokenizer.from_file(str(pipeline.tokenizer_file))
        tokenizer.no_padding()  # tokenizer.json pads to 128; each text runs alone, unpadded
        tokenizer.enable_truncation(max_length=pipeline.max_seq_length)
        self.tokenizer = tokenizer
        self.workers = max(1, threads or os.cpu_count() or 1)
        # one pool for every caller, so that encodes running at once share the cores
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qa-embed")
        opts = ort.SessionOptions()
        # one thread a call: a single short text gains nothing from a second (1.8 ms against
        # 2.3 ms for a question), and many texts use the cores through parallel calls
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only
        # Idle worker threads sleep instead of spinning: spinning more than doubles latency
        # when another process or request thread holds a core, normal for a server.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(onnx_file), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise CacheError(f"ONNX Runtime cannot load {onnx_file}: {err}") from err
        names = [i.name for i in self.session.get_inputs()]
        if not {"input_ids", "attention_mask"} <= set(names):
            raise CacheError(f"{onnx_file} has inputs {names}, not input_ids/attention_mask")
        self._inputs = names
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, each text run alone (see the class;
        ``batch_size`` is accepted for the :class:`~qa.embed.embedder.Embedder` interface)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        if len(texts) == 1:
            out[0] = self._run(self.tokenizer.encode(texts[0]).ids)
            return out
        encs = self.tokenizer.encode_batch(list(texts))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text")

        def work(i: int) -> None:
            out[i] = self._run(encs[i].ids)

        # longest first, so that no worker is left with a long text at the end
        order = sorted(range(len(texts)), key=lambda i: -len(encs[i].ids))
        for _ in self._pool.map(work, order):
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return out

    def _run(self, ids: list[int]) -> np.ndarray:
        row = np.asarray([ids], dtype=np.int64)
        feed = {"input_ids": row, "attention_mask": np.ones_like(row)}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(row)
        hidden = np.asarray(self.session.run(None, feed)[0][0], dtype=np.float32)  # (T, D)
        vec = hidden.mean(axis=0)
        return np.asarray(vec / max(float(np.linalg.norm(vec)), 1e-12), dtype=np.float32)


def load_cached(
    model_dir: Path, weights_sha256: str, threads: int | None = None
) -> OnnxEncoder | None:
    """The encoder from the cache, or None when nothing is cached for these weights. Raises
    :class:`CacheError` when a cached file is there but unusable (truncated, altered, …)."""
    pipeline = read_pipeline(model_dir)
    onnx_file, record_file = cache_files(weights_sha256)
    if not onnx_file.exists() and not record_file.exists():
        return None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        expected_bytes, expected_sha = int(record["onnx_bytes"]), str(record["onnx_sha256"])
        if record.get("format") != FORMAT or record.get("weights_sha256") != weights_sha256:
            raise CacheError(f"{record_file} is for another model or an older export")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheError(f"{record_file} is missing or unreadable: {err}") from err
    try:
        size = onnx_file.stat().st_size
    except OSError as err:
        raise CacheError(f"{onnx_file} is missing: {err}") from err
    if size != expected_bytes:
        raise CacheError(f"{onnx_file} has {size} bytes, expected {expected_bytes} (truncated?)")
    if file_sha256(onnx_file) != expected_sha:
        raise CacheError(f"{onnx_file} does not match its recorded SHA-256 (altered?)")
    return OnnxEncoder(onnx_file, pipeline, threads)


def remove_cached(weights_sha256: str) -> None:
    for path in cache_files(weights_sha256):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def export(
    st_model: Any, model_dir: Path, weights_sha256: str, threads: int | None = None
) -> OnnxEncoder:
    """Export a loaded sentence-transformers model to the cache, check it against torch on
    :data:`CHECK_TEXTS` (one at a time and as a padded batch) and return its encoder. Raises
    :class:`ExportError` (nothing is left in the cache then)."""
    pipeline = read_pipeline(model_dir)
    onnx_file, record_file = cache_files(weights_sha256)
    try:
        onnx_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{onnx_file.stem}-", suffix=".onnx.tmp", dir=onnx_file.parent
        )
        os.close(fd)
    except OSError as err:
        raise ExportError(f"cannot write to the cache folder {onnx_file.parent}: {err}") from err
    tmp = Path(tmp_name)
    try:
        started = time.perf_counter()
        encoder, worst = write_int8(st_model, tmp, pipeline, threads)
        seconds = time.perf_counter() - started
        record = {
            "format": FORMAT,
            "model_dir": str(model_dir),
            "weights_sha256": weights_sha256,
            "onnx_bytes": tmp.stat().st_size,
            "onnx_sha256": file_sha256(tmp),
            "opset": OPSET,
            "precision": PRECISION,
            "quantization": "onnxruntime quantize_dynamic: int8 weights, one scale per channel",
            "worst_cosine_vs_torch": worst,
            "export_seconds": round(seconds, 2),
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.chmod(tmp, 0o644)  # mkstemp makes it private; it is a plain cache file
        os.replace(tmp, onnx_file)
        encoder.onnx_file = onnx_file  # the open session keeps reading the same inode
        _write_atomic(record_file, json.dumps(record, indent=2) + "\n")
        return encoder
    except ExportError:
        raise
    except Exception as err:  # torch/onnx raise many kinds of errors
        raise ExportError(f"{type(err).__name__}: {err}") from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_int8(
    st_model: Any, target: Path, pipeline: Pipeline, threads: int | None = None
) -> tuple[OnnxEncoder, float]:
    """Write ``st_model``'s transformer to ``target`` as int8 ONNX and check it against torch on
    :data:`CHECK_TEXTS` (one at a time and as a padded batch): the encoder and the worst cosine.
    Raises :class:`ExportError` when a vector is off by more than :data:`MIN_COSINE`."""
    _torch_export(st_model, target)
    _quantize(target)
    try:
        encoder = OnnxEncoder(target, pipeline, threads)
    except CacheError as err:
        raise ExportError(str(err)) from err
    worst = _check(st_model, encoder)
    if worst <= MIN_COSINE:
        raise ExportError(
            f"ONNX Runtime vectors differ from torch (worst cosine {worst:.6f} ≤ {MIN_COSINE})"
        )
    return encoder, worst


def _torch_export(st_model: Any, target: Path) -> None:
    import warnings

    import torch

    transformer = st_model[0].auto_model

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    # a padded batch, so the attention-mask path is what gets traced
    sample = st_model.tokenizer(
        list(CHECK_TEXTS[:3]), padding=True, truncation=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(
            LastHidden(transformer).eval(),
            tuple(sample[n] for n in names),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _quantize(path: Path) -> None:
    """Replace the float32 model at ``path`` by its int8 version (in place, via a sibling file)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic suggests "pre-processing" on the root logger; it does not help here
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    quantized = path.with_name(path.name + ".int8")
    try:
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(quantized, path)
    finally:
        root.setLevel(level)
        with contextlib.suppress(FileNotFoundError):
            quantized.unlink()


def _check(st_model: Any, encoder: OnnxEncoder) -> float:
    """The worst cosine between torch and ONNX Runtime vectors of the check texts."""
    texts = list(CHECK_TEXTS)
    ref = st_model.encode(texts, batch_size=len(texts), normalize_embeddings=True)
    ref = np.asarray(ref, dtype=np.float32)
    batched = encoder.encode(texts, batch_size=len(texts))
    single = np.vstack([encoder.encode([t]) for t in texts])
    worst = min(float((batched * ref).sum(axis=1).min()), float((single * ref).sum(axis=1).min()))
    return worst if np.isfinite(worst) else -1.0


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("torch", "onnx", "onnxruntime", "transformers", "sentence_transformers"):
        with contextlib.suppress(Exception):
            out[name] = str(__import__(name).__version__)
    return out


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
