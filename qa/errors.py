"""Domain exceptions. The CLI and the HTTP API turn these into clean messages and exit codes."""

from __future__ import annotations


class QAError(Exception):
    """Base class: a problem a user can understand and fix. ``str(err)`` is the message."""

    exit_code = 1


class CorpusError(QAError):
    """One or more articles could not be loaded."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"{path}: {reason}" for path, reason in problems]
        head = f"{len(problems)} invalid article file(s); nothing was indexed"
        hint = "fix them, or run with --skip-invalid to index the rest"
        super().__init__(head + ":\n  " + "\n  ".join(lines) + f"\n({hint})")


class IndexLoadError(QAError):
    """The index is missing, corrupt, stale or was built with another model or format."""


class BuildBusyError(QAError):
    """Another build holds the index folder's lock."""


class ArticleNotFoundError(QAError):
    """No article with that id (HTTP 404)."""


class ArticleConflictError(QAError):
    """The article comes from files qa does not manage (HTTP 409): change it there."""


class InvalidArticleError(QAError):
    """An article pushed to the index is not valid (HTTP 422); nothing was changed."""


class StaleIndexError(IndexLoadError):
    """The articles changed since the index was built."""


class QuestionError(QAError):
    """The question is empty, too long, or not text (HTTP 400)."""


class QuestionTooLongError(QuestionError):
    """The question is over the length limit (HTTP 413)."""


class InputFileError(QAError):
    """An input file (batch questions, eval set) cannot be read."""
