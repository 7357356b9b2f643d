"""The answer contract's records."""

from __future__ import annotations

from qa.types import Citation


def _cite(short: tuple[int, int] | None) -> Citation:
    return Citation(
        1,
        "a",
        "T",
        "",
        "",
        "",
        "",
        "The pier cost $4 million.",
        100,
        125,
        short_start=short[0] if short else None,
        short_end=short[1] if short else None,
    )


def test_quote_parts_split_around_the_short_answer() -> None:
    assert _cite((114, 124)).quote_parts() == ("The pier cost ", "$4 million", ".")
    assert _cite(None).quote_parts() == ("The pier cost $4 million.", "", "")
    # offsets outside the quote are clipped, never raise
    assert _cite((90, 200)).quote_parts() == ("", "The pier cost $4 million.", "")
