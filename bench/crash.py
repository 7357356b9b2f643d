"""Crash safety: kill `qa index` and `qa batch` with SIGKILL at random moments, check what's left.

Index trials. Two versions of a generated corpus (A and B) are indexed once, uninterrupted, as
references: their article fingerprints and the answers to a fixed question set. Then each trial
starts `qa index` towards the other version (``--rebuild`` or an incremental update, at random),
SIGKILLs its process group at a random moment, and checks that

* the index in the folder loads (all SHA-256 hashes verified) and is exactly version A or B:
  the previous one (killed before the swap) or the new one (killed after it), never a mixture;
* it answers the question set exactly as that version's reference does;
* any debris the kill left (``.tmp-*`` build folders, ``.CURRENT.*`` files, old builds) is gone
  after the next, uninterrupted run, which must succeed and give the target version.

A third of the kill times are uniform over the whole run (process start to exit), a third over
the write window (from the moment the ``.tmp-*`` folder appears to the exit), and a third within
0.25 s of the moment ``CURRENT`` is swapped, where a torn index could happen. The phases are
timed on uninterrupted reference runs.

Batch trials. `qa batch` answers a question file into an output file that holds "previous
results"; it is killed at a random moment (drawn the same way, around the rename). The output must be
either untouched or the complete, correct answer file, never half-written; temp files a kill
leaves behind are removed by the next run.

    python bench/crash.py                       # 50 index trials (hash model) + 30 batch trials
    python bench/crash.py --model minilm --articles 60 --trials 5 --batch-trials 0
    python bench/crash.py --json bench/out/crash.json

The exit code is 1 when any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from qa.index.format import current_build  # noqa: E402
from qa.index.store import load_index  # noqa: E402
from qa.pipeline import Assistant  # noqa: E402

TOWNS = ["Linden", "Marrow", "Ashby", "Corvin", "Dale", "Elmstead", "Fenwick", "Garth"]


# ---------------------------------------------------------------------------------------------
# Corpus and questions


def write_corpus(path: Path, n: int, version: str) -> None:
    """``n`` synthetic articles as JSONL; version "B" changes the figures of every 7th one."""
    rng = random.Random(1234)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            town = f"{TOWNS[i % len(TOWNS)]}{i}"
            days, workers, cost, weeks = (
                rng.randint(2, 90),
                rng.randint(10, 900),
                rng.randint(1, 99),
                rng.randint(2, 12),
            )
            if version == "B" and i % 7 == 0:
                workers, cost = workers + 1000, cost + 100
            paras = [
                f"The town of {town} opened a new bridge on Monday after {days} days of work. "
                f"Mayor Person{i} said {workers} workers rebuilt the main road.",
                f"The repairs cost ${cost} million, paid by the regional government. "
                f"Officials in {town} expect traffic to return to normal within {weeks} weeks.",
                f"Shops in {town} reported more visitors since the reopening. Residents of {town} "
                "had waited for the bridge for years, according to local reports.",
            ]
            row = {
                "id": f"art-{i}",
                "title": f"Bridge reopens in {town}",
                "source": "Synthetic Gazette",
                "date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "text": "\n\n".join(paras),
            }
            fh.write(json.dumps(row) + "\n")


def questions(n_articles: int, count: int) -> list[str]:
    rng = random.Random(99)
    out = []
    for _ in range(count):
        i = rng.randrange(n_articles)
        if rng.random() < 0.5:
            i -= i % 7  # an article that differs between A and B
        town = f"{TOWNS[i % len(TOWNS)]}{i}"
        out.append(
            rng.choice(
                [
                    f"How many workers rebuilt the main road in {town}?",
                    f"How much did the repairs in {town} cost?",
                    f"Who is the mayor of {town}?",
                ]
            )
        )
    return out


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "timing_ms"}


def answers_of(index_dir: Path, qs: list[str]) -> list[dict[str, Any]]:
    assistant = Assistant.load(index_dir, stale="ignore")
    return [_strip(a.to_dict()) for a in assistant.ask_many(qs)]


# ---------------------------------------------------------------------------------------------
# Processes


def _fmt(t: tuple[float, ...]) -> str:
    return "/".join(f"{x:.2f}" for x in t) + " s"


def qa_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "qa.surfaces.cli", *args]


def start(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes every child with it
        cwd=ROOT,
    )


def kill_at(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL the process group after ``delay`` seconds; False when it had already exited."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def run_ok(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.decode()[-2000:]}")
    return time.perf_counter() - t0


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def timed_run(
    cmd: list[str], watch: Path, tmp_glob: str, final: Path
) -> tuple[float, float, float]:
    """Run ``cmd`` to completion; seconds until a ``tmp_glob`` file appeared in ``watch``, until
    ``final`` was replaced (the swap / the rename), and in total."""
    before = _stamp(final)
    t0 = time.perf_counter()
    proc = start(cmd)
    t_tmp = t_swap = None
    while proc.poll() is None:
        now = time.perf_counter() - t0
        if t_tmp is None and any(watch.glob(tmp_glob)):
            t_tmp = now
        if t_swap is None and _stamp(final) != before:
            t_swap = now
        time.sleep(0.002)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    t_tmp = t_tmp if t_tmp is not None else total * 0.9
    return t_tmp, (t_swap if t_swap is not None else total), total


def pick_delay(
    rng: random.Random, t_tmp: float, t_swap: float, total: float, window_share: float = 2 / 3
) -> tuple[float, str]:
    """Uniform over the whole run, or (``window_share`` of the time) over the write window
    (temp file appears .. exit) or around the swap (the rename, +-0.25 s), alike."""
    r = rng.random()
    if r >= window_share:
        return rng.uniform(0.0, total), "anywhere"
    if r < window_share / 2:
        return rng.uniform(max(0.0, t_tmp - 0.05), total), "write window"
    return rng.uniform(max(0.0, t_swap - 0.25), t_swap + 0.25), "swap"


# ---------------------------------------------------------------------------------------------
# Index trials


def index_debris(ix: Path) -> list[str]:
    try:
        current = current_build(ix).name
    except Exception:
        current = None
    out = []
    # the most recently replaced build is kept one round on purpose (a server may be loading it)
    olds = sorted(
        (p for p in ix.iterdir() if p.name.startswith("build-") and p.name != current),
        key=lambda p: p.stat().st_mtime_ns,
    )
    kept = olds[-1].name if olds else None
    for p in ix.iterdir():
        if p.name.startswith((".tmp-", ".CURRENT.")) or (
            p.name.startswith("build-") and p.name not in (current, kept)
        ):
            out.append(p.name)
    if current:
        out += [f"{current}/{p.name}" for p in (ix / current).glob(".manifest.*")]
    return sorted(out)


@dataclass
class IndexTrial:
    n: int
    mode: str
    where: str
    delay: float
    killed: bool
    outcome: str = ""  # "old", "new" (the index found after the kill), or "FAIL"
    debris: list[str] = field(default_factory=list)
    recovered: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def index_trials(
    work: Path,
    n_articles: int,
    trials: int,
    model: str,
    seed: int,
    log: Any = print,
    window_share: float = 2 / 3,
) -> tuple[list[IndexTrial], dict[str, Any]]:
    rng = random.Random(seed)
    corpus_dir = work / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus_dir / "articles.jsonl"
    qs = questions(n_articles, 40)
    # References per version: fingerprints, and the answers of a full build and of an incremental
    # update from the other version (they may differ in the last digit of a confidence: reused
    # vectors come back from float16 storage, fresh ones do not).
    prints: dict[str, dict[str, str]] = {}
    ref: dict[str, list[list[dict[str, Any]]]] = {}
    timing: dict[str, tuple[float, float, float]] = {}
    for version in ("A", "B"):
        write_corpus(corpus, n_articles, version)
        rdir = work / f"ref-{version}"
        cmd = qa_cmd("index", str(corpus), "--index-dir", str(rdir), "--model", model, "-q")
        timing["rebuild"] = timed_run(cmd, rdir, ".tmp-*", rdir / "CURRENT")
        prints[version] = load_index(rdir).fingerprints
        ref[version] = [answers_of(rdir, qs)]
    for version, other in (("A", "B"), ("B", "A")):
        write_corpus(corpus, n_articles, version)
        udir = work / f"upd-{version}"
        shutil.copytree(work / f"ref-{other}", udir)
        cmd = qa_cmd("index", str(corpus), "--index-dir", str(udir), "--model", model, "-q")
        timing["update"] = timed_run(cmd, udir, ".tmp-*", udir / "CURRENT")
        ref[version].append(answers_of(udir, qs))
        shutil.rmtree(udir)
    if ref["A"][0] == ref["B"][0]:
        raise RuntimeError("the two corpus versions answer alike; the check would be blind")
    log(
        f"index: {n_articles} articles, model {model}; (temp folder, swap, exit) at "
        f"full build {_fmt(timing['rebuild'])}, update {_fmt(timing['update'])}"
    )

    ix = work / "ix"
    shutil.copytree(work / "ref-B", ix)  # start from version B, corpus file holds B
    current = "B"
    before = ref["B"][0]  # what the index in ix answers now
    results: list[IndexTrial] = []
    for n in range(1, trials + 1):
        target = "A" if current == "B" else "B"
        write_corpus(corpus, n_articles, target)
        mode = rng.choice(["rebuild", "update"])
        delay, where = pick_delay(rng, *timing[mode], window_share)
        args = ["index", str(corpus), "--index-dir", str(ix), "--model", model, "-q"]
        proc = start(qa_cmd(*args, *(["--rebuild"] if mode == "rebuild" else [])))
        trial = IndexTrial(n, mode, where, round(delay, 3), kill_at(proc, delay))
        try:
            index = load_index(ix, verify_hashes=True)
            found = next((v for v, fp in prints.items() if fp == index.fingerprints), None)
            if found is None:
                raise AssertionError("the index is neither the previous nor the new version")
            trial.outcome = "old" if found == current else "new"
            got = answers_of(ix, qs)
            if trial.outcome == "old" and got != before:
                raise AssertionError("the previous index answers differently after the kill")
            if trial.outcome == "new" and got not in ref[found]:
                raise AssertionError(f"answers differ from version {found}'s references")
            trial.debris = index_debris(ix)
            run_ok(qa_cmd(*args))  # the next run: must succeed and clean up
            left = index_debris(ix)
            if left:
                raise AssertionError(f"debris left after the next run: {left}")
            index = load_index(ix, verify_hashes=True)
            before = answers_of(ix, qs)
            if index.fingerprints != prints[target] or before not in ref[target]:
                raise AssertionError("the next run did not produce the target version")
            trial.recovered = True
            current = target
        except Exception as err:
            trial.outcome = trial.outcome or "FAIL"
            trial.error = f"{type(err).__name__}: {err}"
            # start the next trial from a known state
            shutil.rmtree(ix, ignore_errors=True)
            shutil.copytree(work / f"ref-{target}", ix)
            current, before = target, ref[target][0]
        results.append(trial)
        log(
            f"  index trial {n:2d}: {mode:7s} kill at {delay:5.2f}s ({where}) "
            f"{'killed' if trial.killed else 'finished first'}; found {trial.outcome}; "
            f"debris {len(trial.debris)}; {'ok' if trial.ok else 'FAILED: ' + trial.error}"
        )
    return results, {"timing": timing, "questions": len(qs)}


# ---------------------------------------------------------------------------------------------
# Batch trials


@dataclass
class BatchTrial:
    n: int
    fmt: str
    where: str
    delay: float
    killed: bool
    outcome: str = ""  # "untouched", "complete", or "FAIL"
    debris: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _records(path: Path, fmt: str) -> list[dict[str, Any]]:
    import csv

    if fmt == "jsonl":
        return [_strip(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as fh:
        return [_strip(dict(r)) for r in csv.DictReader(fh)]


def batch_trials(
    work: Path,
    ix: Path,
    n_questions: int,
    trials: int,
    seed: int,
    log: Any = print,
    window_share: float = 2 / 3,
) -> tuple[list[BatchTrial], dict[str, Any]]:
    rng = random.Random(seed + 1)
    n_articles = len(load_index(ix).articles)
    inp = work / "questions.jsonl"
    with inp.open("w", encoding="utf-8") as fh:
        for i, q in enumerate(questions(n_articles, n_questions)):
            fh.write(json.dumps({"id": str(i), "question": q}) + "\n")
    ref: dict[str, list[dict[str, Any]]] = {}
    timing: dict[str, tuple[float, float, float]] = {}
    for fmt in ("jsonl", "csv"):
        out = work / f"ref.{fmt}"
        cmd = qa_cmd(
            "batch", str(inp), "-o", str(out), "--index-dir", str(ix), "-q", "--allow-stale"
        )
        timing[fmt] = timed_run(cmd, work, f".ref.{fmt}.*", out)
        ref[fmt] = _records(out, fmt)
    log(
        f"batch: {n_questions} questions; (temp file, rename, exit) at jsonl "
        f"{_fmt(timing['jsonl'])}, csv {_fmt(timing['csv'])}"
    )
    previous = "previous results\n"
    results: list[BatchTrial] = []
    for n in range(1, trials + 1):
        fmt = rng.choice(["jsonl", "csv"])
        out = work / f"answers.{fmt}"
        out.write_text(previous, encoding="utf-8")
        delay, where = pick_delay(rng, *timing[fmt], window_share)
        cmd = qa_cmd(
            "batch", str(inp), "-o", str(out), "--index-dir", str(ix), "-q", "--allow-stale"
        )
        trial = BatchTrial(n, fmt, where, round(delay, 3), kill_at(start(cmd), delay))
        try:
            if out.read_text(encoding="utf-8") == previous:
                trial.outcome = "untouched"
            elif _records(out, fmt) == ref[fmt]:
                trial.outcome = "complete"
            else:
                raise AssertionError(f"{out.name} is neither the previous file nor complete")
            trial.debris = sorted(p.name for p in work.glob(f".answers.{fmt}.*"))
            if trial.debris:  # the next run must remove them
                run_ok(cmd)
                left = sorted(p.name for p in work.glob(f".answers.{fmt}.*"))
                if left or _records(out, fmt) != ref[fmt]:
                    raise AssertionError(f"the next run left {left} or wrong output")
        except Exception as err:
            trial.outcome = trial.outcome or "FAIL"
            trial.error = f"{type(err).__name__}: {err}"
            for p in work.glob(f".answers.{fmt}.*"):
                p.unlink()
        results.append(trial)
        log(
            f"  batch trial {n:2d}: {fmt:5s} kill at {delay:5.2f}s ({where}) "
            f"{'killed' if trial.killed else 'finished first'}; output {trial.outcome}; "
            f"debris {len(trial.debris)}; {'ok' if trial.ok else 'FAILED: ' + trial.error}"
        )
    return results, {"timing": timing, "questions": n_questions}


# ---------------------------------------------------------------------------------------------


def summary(index: list[IndexTrial], batch: list[BatchTrial]) -> dict[str, Any]:
    def count(items: list[Any], attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in items:
            out[getattr(it, attr)] = out.get(getattr(it, attr), 0) + 1
        return out

    return {
        "index": {
            "trials": len(index),
            "passed": sum(t.ok for t in index),
            "failed": sum(not t.ok for t in index),
            "killed": sum(t.killed for t in index),
            "found": count(index, "outcome"),
            "with_debris": sum(bool(t.debris) for t in index),
            "modes": count(index, "mode"),
            "kill_times": count(index, "where"),
        },
        "batch": {
            "trials": len(batch),
            "passed": sum(t.ok for t in batch),
            "failed": sum(not t.ok for t in batch),
            "killed": sum(t.killed for t in batch),
            "output": count(batch, "outcome"),
            "kill_times": count(batch, "where"),
            "with_debris": sum(bool(t.debris) for t in batch),
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", type=int, default=50, help="index kill trials")
    ap.add_argument("--batch-trials", type=int, default=30)
    ap.add_argument("--articles", type=int, default=2500, help="articles in the corpus")
    ap.add_argument("--batch-questions", type=int, default=400)
    ap.add_argument("--model", choices=["hash", "minilm"], default="hash")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="kept when given")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="qa-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        itrials, imeta = index_trials(work, args.articles, args.trials, args.model, args.seed)
        btrials, bmeta = [], {}
        if args.batch_trials:
            btrials, bmeta = batch_trials(
                work, work / "ix", args.batch_questions, args.batch_trials, args.seed
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "model": args.model,
        "articles": args.articles,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 1),
        "summary": summary(itrials, btrials),
        "index_meta": imeta,
        "batch_meta": bmeta,
        "index_trials": [asdict(t) for t in itrials],
        "batch_trials": [asdict(t) for t in btrials],
    }
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0 if all(t.ok for t in itrials) and all(t.ok for t in btrials) else 1


if __name__ == "__main__":
    from _common import bench_run

    with bench_run():
        code = main()
    sys.exit(code)
