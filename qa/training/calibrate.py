"""Fitting the reader's non-neural part (``params.json`` beside the model):

* the first-stage scorer that picks which candidate sentences the model reads;
* the ranker that orders what the model read: a conditional logit (softmax over each question's
  read candidates) on the model's relevance and the first-stage score;
* how many it reads (``read``), the smallest number whose P@1 is within one standard error of
  the best (the one-standard-error rule: reading costs ~5 ms a sentence), and of those only the
  ones whose first-stage logit is within ``read_gap`` of the best: the smallest gap that loses
  none of the calibration questions reading them all gets right;
* the confidence calibrator: a logistic regression from the best sentence's reading to the
  probability that it is the right answer, Platt-rescaled on validation;
* the abstention threshold.

The scorers are fitted on the articles of ``squad2-dev-other-20`` that the model was not trained
on (real SQuAD 2.0 questions, half of them adversarial unanswerables); the threshold is chosen
on the validation set ``squad2-dev-5`` (the one that maximises the share of questions handled
right: answerable ones answered with a gold sentence, unanswerable ones abstained), where the
expected calibration error is also measured. Test sets are never read here.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import BUNDLED_CORPUS, EVAL_DIR
from qa.embed.embedder import Embedder, make_embedder
from qa.evaluation import EvalItem, GoldSentences, load_eval_set
from qa.pipeline import Assistant
from qa.questions import analyze_question
from qa.read.model import ReaderModel, default_model
from qa.read.reader import (
    RANK_BY_RELEVANCE,
    Candidate,
    ReaderParams,
    confidence_features,
    how_many,
    rank_read,
)
from qa.read.scorer import LinearScorer

log = logging.getLogger(__name__)

NEWS_SETS = (
    "questions.jsonl",
    "heldout.jsonl",
    "heldout2.jsonl",
    "heldout3.jsonl",
    "heldout4.jsonl",
    "heldout5.jsonl",
)
FIRST_FEATURES = ("dense", "passage", "lexical")
CONF_FEATURES = ("relevance", "margin", "span", "first", "dense", "passage", "lexical")
RANK_FEATURES = ("relevance", "first")
# features the ranker may also take: each one that raises calibration P@1 (choose_rank); the
# ablation adds each one left out, and leaves out each one taken
RANK_EXTRA = ("span",)
MAX_READ = 12  # the most sentences a fitted reader may read per question
READ_GAPS = tuple(float(g) for g in np.arange(0.5, 6.01, 0.5))  # first-stage gaps tried
BOOTSTRAP_FIRST = LinearScorer(FIRST_FEATURES, (4.0, 2.0, 2.0), 0.0)
# the reader as it collects: the candidates to read are chosen by ``collect``
BOOTSTRAP = ReaderParams(
    BOOTSTRAP_FIRST, LinearScorer(("relevance",), (1.0,), 0.0), threshold=0.0, read=1000
)


@dataclass
class Row:
    """One question's candidates, all read by the model, and which of them are gold."""

    qid: str
    answerable: bool
    cands: list[Candidate]
    gold: list[bool]


def collect(
    assistant: Assistant, items: list[EvalItem], firsts: Sequence[LinearScorer] = ()
) -> list[Row]:
    """Every question's candidate sentences, of which the model reads the top ``MAX_READ`` by
    each of the first stages ``firsts`` (none: nothing is read). The first stage does not
    depend on the model, so it is fitted on unread rows first; no reader reads more than
    ``MAX_READ``."""
    reader = assistant.reader
    infos = [analyze_question(i.question, list(i.history) or None) for i in items]
    vecs = assistant.embedder.encode([i.query for i in infos])
    rows = []
    for n, (item, info, qvec) in enumerate(zip(items, infos, vecs, strict=True)):
        hits = assistant.retriever.search(info.query, qvec, k=reader.passages)
        cands = reader.candidates(info.query, qvec, hits)
        chosen: dict[int, Candidate] = {}
        for first in firsts:
            for c in sorted(cands, key=lambda c: -first.logit(c.values()))[:MAX_READ]:
                chosen[c.sid] = c
        reader.read_candidates(info, list(chosen.values()))
        gold = GoldSentences(reader.index, item)
        rows.append(Row(item.id, item.answerable, cands, [gold.holds(c.sid) for c in cands]))
        if n % 200 == 0:
            log.info("%s %d of %d questions", "read" if firsts else "retrieved", n, len(items))
    return rows


def collect_set(
    folder: Path,
    index_dir: Path,
    cache: Path,
    firsts: Sequence[LinearScorer],
    limit_articles: set[str] | None = None,
    corpus: Path | None = None,
    files: tuple[str, ...] = (),
) -> list[Row]:
    """``collect`` over a benchmark folder (or the question ``files`` in it), its articles
    (``corpus``, default its corpus.jsonl) indexed into ``index_dir``; the read rows are cached
    in ``cache``, with the embedder and reader model that made them (a cache of other models is
    read again), and serve as unread ones too."""
    assistant = Assistant.ensure(
        [str(corpus or folder / "corpus.jsonl")], index_dir, progress=False, reader_params=BOOTSTRAP
    )
    made_by = models_of(assistant.embedder, assistant.reader.model)
    if cache.is_file():
        with open(cache, "rb") as fh:
            cached = pickle.load(fh)
        if isinstance(cached, dict) and cached.get("models") == made_by:
            rows: list[Row] = cached["rows"]
            return rows
        log.info("%s was read with other models: reading again", cache)
    items = (
        [i for name in files for i in load_eval_set(folder / name)]
        if files
        else load_eval_set(folder)
    )
    if limit_articles is not None:
        items = [i for i in items if set(i.article_ids) & limit_articles]
    rows = collect(assistant, items, firsts)
    if firsts:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "wb") as fh:
            pickle.dump({"models": made_by, "rows": rows}, fh)
    return rows


def models_of(embedder: Embedder, model: ReaderModel) -> dict[str, str]:
    """The embedder and reader model whose readings a calibration uses: their names and the
    SHA-256 of their weights."""
    identity = embedder.identity()
    reader = model.manifest
    return {
        "embedder": str(identity["name"]),
        "embedder_sha256": str(identity.get("weights_sha256", "")),
        "reader": str(reader.get("name", "")),
        "reader_sha256": str(reader["files"]["model.onnx"]),
    }


def order(
    row: Row,
    first: LinearScorer,
    k: int,
    rank: LinearScorer = RANK_BY_RELEVANCE,
    gap: float | None = None,
) -> list[int]:
    """Indexes of ``row.cands`` in the reader's order: top ``k`` by the first stage (only those
    within ``gap`` of the best), re-ranked by ``rank``."""
    vals = [first.logit(c.values()) for c in row.cands]
    top = sorted(range(len(vals)), key=lambda i: -vals[i])[: min(k, MAX_READ)]
    top = top[: how_many([vals[i] for i in top], k, gap)]
    for i in top:
        row.cands[i].first = vals[i]
    where = {id(row.cands[i]): i for i in top}
    return [where[id(c)] for c in rank_read([row.cands[i] for i in top], rank)]


def fit_rank(
    rows: list[Row], first: LinearScorer, k: int, names: tuple[str, ...] = RANK_FEATURES
) -> LinearScorer:
    """The ranker: weights on ``names`` maximising the likelihood of the gold sentences under a
    softmax over each answerable question's ``k`` read candidates (a conditional logit; only
    questions with a gold sentence among them count). Slightly L2-regularised."""
    from scipy.optimize import minimize

    lists = []
    for r in rows:
        if not r.answerable:
            continue
        top = order(r, first, k)
        gold = np.array([r.gold[i] for i in top], dtype=float)
        if gold.any():
            x = np.array([[r.cands[i].reading_values()[f] for f in names] for i in top])
            lists.append((x, gold / gold.sum()))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 1e-3 * float(w @ w), 2e-3 * w
        for x, q in lists:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            total -= float(q @ np.log(p + 1e-12)) / len(lists)
            grad = grad - x.T @ (q - p) / len(lists)
        return total, grad

    w = minimize(loss, np.zeros(len(names)), jac=True, method="L-BFGS-B").x
    return LinearScorer(names, tuple(float(v) for v in w), 0.0)


def choose_rank(rows: list[Row], first: LinearScorer, k: int) -> tuple[LinearScorer, float]:
    """The ranker for ``k`` read: on ``RANK_FEATURES``, and each of ``RANK_EXTRA`` in turn
    that, fitted with them, raises P@1 on ``rows`` (the calibration questions); with that
    P@1."""
    rank = fit_rank(rows, first, k)
    best = p_at_1(rows, first, k, rank)
    for extra in RANK_EXTRA:
        wider = fit_rank(rows, first, k, (*rank.features, extra))
        score = p_at_1(rows, first, k, wider)
        if score > best:
            rank, best = wider, score
    return rank, best


def leave_one_out(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``names`` without each one in turn."""
    return [tuple(f for f in names if f != drop) for drop in names]


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> LinearScorer:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=1000)
    lr.fit(x, y)
    return LinearScorer(names, tuple(float(w) for w in lr.coef_[0]), float(lr.intercept_[0]))


def fit_first(rows: list[Row], names: tuple[str, ...] = FIRST_FEATURES) -> LinearScorer:
    """The first stage fitted on ``names`` (the other first-stage features weigh 0)."""
    x, y = [], []
    for r in rows:
        if r.answerable and any(r.gold):
            for c, g in zip(r.cands, r.gold, strict=True):
                x.append([c.values()[f] for f in names])
                y.append(int(g))
    part = fit_logistic(np.array(x), np.array(y), names)
    weights = dict(zip(part.features, part.weights, strict=True))
    return LinearScorer(
        FIRST_FEATURES, tuple(weights.get(f, 0.0) for f in FIRST_FEATURES), part.bias
    )


def ranked_right(
    rows: list[Row],
    first: LinearScorer,
    k: int,
    rank: LinearScorer = RANK_BY_RELEVANCE,
    gap: float | None = None,
) -> list[bool]:
    """For each answerable row: is a gold sentence first among what is read?"""
    return [
        bool(o) and r.gold[o[0]]
        for r in rows
        if r.answerable
        for o in [order(r, first, k, rank, gap)]
    ]


def p_at_1(
    rows: list[Row],
    first: LinearScorer,
    k: int,
    rank: LinearScorer = RANK_BY_RELEVANCE,
    gap: float | None = None,
) -> float:
    right = ranked_right(rows, first, k, rank, gap)
    return sum(right) / max(1, len(right))


def mean_read(rows: list[Row], first: LinearScorer, k: int, gap: float | None) -> float:
    """Sentences read per question, on average."""
    return float(np.mean([len(order(r, first, k, gap=gap)) for r in rows])) if rows else 0.0


def fit_gap(rows: list[Row], first: LinearScorer, k: int, rank: LinearScorer) -> float | None:
    """The smallest of ``READ_GAPS`` at which reading only the candidates that close to the
    first stage's best loses none of the answerable ``rows`` whose gold sentence reading all
    ``k`` ranks first (None: every gap loses some). Questions it happens to gain do not make up
    for one lost."""
    full = ranked_right(rows, first, k, rank)

    def loses_none(gap: float) -> bool:
        now = ranked_right(rows, first, k, rank, gap)
        return not any(f and not x for f, x in zip(full, now, strict=True))

    return next((g for g in READ_GAPS if loses_none(g)), None)


def conf_data(
    rows: list[Row], first: LinearScorer, k: int, rank: LinearScorer, gap: float | None = None
) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Calibrator inputs and labels (the best sentence is gold); questions without candidates
    are left out (the reader abstains on them with confidence 0)."""
    x, y, answerable = [], [], []
    for r in rows:
        o = order(r, first, k, rank, gap)
        if not o:
            continue
        feats = confidence_features([r.cands[i] for i in o])
        x.append([feats[f] for f in CONF_FEATURES])
        y.append(int(r.gold[o[0]]))
        answerable.append(r.answerable)
    return np.array(x), np.array(y), answerable


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & ((p < hi) | (hi == 1.0))
        if m.any():
            total += m.sum() / len(p) * abs(float(p[m].mean()) - float(y[m].mean()))
    return total


def auroc(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def handled_right(p: np.ndarray, y: np.ndarray, answerable: list[bool], t: float) -> float:
    """Share of questions handled right at threshold ``t``: answerable ones answered with a
    gold sentence, unanswerable ones abstained."""
    ans = np.array(answerable)
    answered = p >= t
    return float(np.where(ans, answered & (y == 1), ~answered).mean())


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    answerable: list[bool],
    *more: tuple[np.ndarray, np.ndarray, list[bool]],
) -> tuple[float, float]:
    """The threshold maximising questions handled right (the mean over the sets given, each
    counting once), and that share."""
    sets = [(p, y, answerable), *more]
    best_t, best_acc = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 91):
        acc = float(np.mean([handled_right(sp, sy, sa, float(t)) for sp, sy, sa in sets]))
        if acc > best_acc:
            best_t, best_acc = float(t), acc
    return best_t, best_acc


def ablation(
    cal: list[Row],
    val: list[Row],
    k: int,
    gap: float | None = None,
    ranked_by: tuple[str, ...] = RANK_FEATURES,
) -> list[dict[str, Any]]:
    """Each fitted feature left out in turn (refitted on calibration, measured on validation):
    sentence P@1 for the first stage's and the ranker's features ``ranked_by`` (and the ranker
    with each of ``RANK_EXTRA`` it lacks added; ``k`` read), AUROC and questions handled right
    for the calibrator's (``gap`` applied)."""
    out: list[dict[str, Any]] = []
    for drop, names in zip(
        (None, *FIRST_FEATURES), (FIRST_FEATURES, *leave_one_out(FIRST_FEATURES)), strict=True
    ):
        first = fit_first(cal, names)
        rank = fit_rank(cal, first, k, ranked_by)
        out.append(
            {"part": "first stage", "without": drop or "—", "p_at_1": p_at_1(val, first, k, rank)}
        )
    first = fit_first(cal)
    variants: list[tuple[str, tuple[str, ...]]] = [("—", ranked_by)]
    variants += [
        (f"without {f}", n) for f, n in zip(ranked_by, leave_one_out(ranked_by), strict=True)
    ]
    variants += [(f"with {f}", (*ranked_by, f)) for f in RANK_EXTRA if f not in ranked_by]
    for label, names in variants:
        rank = fit_rank(cal, first, k, names)
        out.append({"part": "ranker", "change": label, "p_at_1": p_at_1(val, first, k, rank)})
    rank = fit_rank(cal, first, k, ranked_by)
    x, y, _ = conf_data(cal, first, k, rank, gap)
    vx, vy, vans = conf_data(val, first, k, rank, gap)
    for drop in (None, *CONF_FEATURES):
        keep = [i for i, f in enumerate(CONF_FEATURES) if f != drop]
        names = tuple(CONF_FEATURES[i] for i in keep)
        conf = fit_logistic(x[:, keep], y, names)
        vp = np.array([conf.probability(dict(zip(names, row[keep], strict=True))) for row in vx])
        _, acc = choose_threshold(vp, vy, vans)
        out.append(
            {
                "part": "confidence",
                "without": drop or "—",
                "auroc": auroc(vp, vy),
                "handled_right": acc,
            }
        )
    return out


def fit(
    shared: Path,
    work: Path,
    out: Path,
    index_root: Path,
    held_out: int = 6,
    seed: int = 13,
    read: int | None = None,
    gap: float | None = None,
    no_gap: bool = False,
) -> dict[str, Any]:
    """Collect (readings cached in ``work``, indexes built under ``index_root``, shared with
    ``qa eval``), fit and write ``out`` (params.json). ``read`` fixes how many sentences the
    model reads instead of the one-standard-error rule, ``gap`` the first-stage gap instead of
    :func:`fit_gap` (``no_gap``: every one of the ``read`` is read)."""
    from qa.training.reader import split_other

    other = shared / "datasets/squad2-dev-other-20"
    _, cal_q = split_other(other, held_out, seed)
    cal_articles = {q.article for q in cal_q}
    cal_index = index_root / "squad2-dev-other-20-minilm"
    cal_rows = work / "rows-calibration.pkl"
    # the first stage needs no reading: fitted on the unread candidates, it picks what is read
    unread = collect_set(other, cal_index, cal_rows, (), cal_articles)
    first = fit_first(unread)
    # the ablation's first stages (each without one feature) are read too
    firsts = [first, *(fit_first(unread, names) for names in leave_one_out(FIRST_FEATURES))]
    cal = collect_set(other, cal_index, cal_rows, firsts, cal_articles)
    val = collect_set(
        shared / "benchmarks/squad2-dev-5",
        index_root / "squad2-dev-5-minilm",
        work / "rows-validation.pkl",
        firsts,
    )
    # the ranker is fitted for each number read; the number read is then chosen
    chosen = {k: choose_rank(cal, first, k) for k in range(1, MAX_READ + 1)}
    ranks = {k: rank for k, (rank, _) in chosen.items()}
    by_k = {k: score for k, (_, score) in chosen.items()}
    best = max(by_k.values())
    answerable = sum(r.answerable for r in cal)
    se = math.sqrt(best * (1 - best) / answerable)
    k = read or min(kk for kk, v in by_k.items() if v >= best - se)
    read_rule = (
        "fixed with `qa train calibrate --read`"
        if read
        else "the fewest whose calibration P@1 is within one standard error of the best"
    )
    rank = ranks[k]
    if no_gap:
        gap, gap_rule = None, "none (`qa train calibrate --no-read-gap`): every one of `read`"
    elif gap is not None:
        gap_rule = "fixed with `qa train calibrate --read-gap`"
    else:
        gap = fit_gap(cal, first, k, rank)
        gap_rule = (
            "the smallest of 0.5, 1.0, … 6.0 that loses none of the calibration questions "
            "reading all `read` ranks right"
            if gap is not None
            else "none: every gap tried lost calibration P@1"
        )
    x, y, _ = conf_data(cal, first, k, rank, gap)
    raw = fit_logistic(x, y, CONF_FEATURES)
    vx, vy, vans = conf_data(val, first, k, rank, gap)

    def logits(scorer: LinearScorer) -> np.ndarray:
        return np.array([scorer.logit(dict(zip(CONF_FEATURES, row, strict=True))) for row in vx])

    ece_before = ece(1 / (1 + np.exp(-logits(raw))), vy)
    # Platt scaling on validation: one slope and one offset on the calibrator's logit, so that
    # confidence matches the share of right answers on questions like validation's
    platt = fit_logistic(logits(raw)[:, None], vy, ("logit",))
    a, b = platt.weights[0], platt.bias
    conf = LinearScorer(CONF_FEATURES, tuple(a * w for w in raw.weights), a * raw.bias + b)
    vp = 1 / (1 + np.exp(-logits(conf)))
    # the project's own news sets are validation too: the threshold serves both kinds of text
    news = collect_set(
        EVAL_DIR,
        index_root / "bundled-minilm",
        work / "rows-news.pkl",
        firsts,
        corpus=BUNDLED_CORPUS,
        files=NEWS_SETS,
    )
    nx, ny, nans = conf_data(news, first, k, rank, gap)
    np_ = np.array([conf.probability(dict(zip(CONF_FEATURES, row, strict=True))) for row in nx])
    threshold, acc = choose_threshold(vp, vy, vans, (np_, ny, nans))
    fitted = {
        "models": models_of(make_embedder("minilm"), default_model()),
        "calibration_set": f"squad2-dev-other-20, {len(cal_articles)} held-out articles: "
        + ", ".join(sorted(cal_articles)),
        "calibration_questions": len(cal),
        "validation_set": "squad2-dev-5",
        "validation_questions": len(val),
        "p_at_1_by_read": {str(kk): round(v, 4) for kk, v in by_k.items()},
        "read_rule": read_rule,
        "read_gap_rule": gap_rule,
        "mean_read": {
            name: round(mean_read(rows, first, k, gap), 3)
            for name, rows in (("calibration", cal), ("validation", val), ("news", news))
        },
        "validation_p_at_1_all_read": round(p_at_1(val, first, k, rank), 4),
        "news_p_at_1_all_read": round(p_at_1(news, first, k, rank), 4),
        "news_p_at_1": round(p_at_1(news, first, k, rank, gap), 4),
        "validation_p_at_1": round(p_at_1(val, first, k, rank, gap), 4),
        "validation_p_at_1_by_relevance": round(p_at_1(val, first, k, gap=gap), 4),
        "ranker": "conditional logit over the read candidates of each answerable calibration "
        f"question, on {' and '.join(RANK_FEATURES)} and each of {', '.join(RANK_EXTRA)} that "
        "raises calibration P@1",
        "validation_ece_before_platt": round(ece_before, 4),
        "validation_ece": round(ece(vp, vy), 4),
        "validation_auroc": round(auroc(vp, vy), 4),
        "validation_handled_right": round(handled_right(vp, vy, vans, threshold), 4),
        "news_validation_sets": ", ".join(NEWS_SETS),
        "news_validation_questions": len(news),
        "news_validation_handled_right": round(handled_right(np_, ny, nans, threshold), 4),
        "news_validation_ece": round(ece(np_, ny), 4),
        "threshold_rule": "maximises the mean of questions handled right on squad2-dev-5 and "
        "on the news sets (eval/), each counting once",
        "threshold_mean_handled_right": round(acc, 4),
        "ablation": [
            {k2: (round(v, 4) if isinstance(v, float) else v) for k2, v in row.items()}
            for row in ablation(cal, val, k, gap, rank.features)
        ],
    }
    params = {
        "first_stage": first.to_dict(),
        "rank": rank.to_dict(),
        "confidence": conf.to_dict(),
        "threshold": round(threshold, 4),
        "read": k,
        "read_gap": gap,
        "passages": BOOTSTRAP.passages,
        "fitted": fitted,
    }
    out.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    if (out.parent / "manifest.json").is_file():
        from qa.training.reader import write_card

        write_card(out.parent)
    return params
