"""Cold `qa ask` in a fresh process against a bare `import sentence_transformers, faiss` (the
goal's reference) and `import onnxruntime, tokenizers, faiss` (what the query path imports now
that it runs the model on ONNX Runtime)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from _common import HEADER, ROOT, bench_run, median, row

QA = str(Path(sys.executable).parent / "qa")


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd, check=True, capture_output=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    return time.perf_counter() - t


def main() -> None:
    with bench_run():
        measure()


def measure() -> None:
    timed([QA, "ask", "warm the index", "--json"])  # builds index/ if missing; warms the page cache
    bare = [timed([sys.executable, "-c", "import sentence_transformers, faiss"]) for _ in range(5)]
    light = [
        timed([sys.executable, "-c", "import onnxruntime, tokenizers, faiss"]) for _ in range(5)
    ]
    ask = [timed([QA, "ask", "How many officers has Kenya provided?", "--json"]) for _ in range(5)]
    b, a, li = median(bare), median(ask), median(light)
    print(HEADER)
    print(
        row(
            "cold `qa ask` (fresh process)",
            f"{a:.2f} s",
            "≤ import + 1.5 s",
            f"import sentence_transformers, faiss {b:.2f} s",
        )
    )
    print(row("overhead over the bare import", f"{a - b:.2f} s", "≤ 1.5 s", ""))
    print(
        row(
            "overhead over the query path's imports",
            f"{a - li:.2f} s",
            "",
            f"import onnxruntime, tokenizers, faiss {li:.2f} s",
        )
    )


if __name__ == "__main__":
    main()
