"""The edge limits: the admission bound by count and by expected wait, and the per-client token
bucket."""

from __future__ import annotations

from typing import Any

from qa.surfaces.web.limits import Admission, RateLimiter


def admitted(admission: Admission, tries: int = 100) -> int:
    return sum(admission.try_enter() for _ in range(tries))


def test_admission_bounds_by_count_and_by_expected_latency() -> None:
    assert admitted(Admission(2, 5)) == 7
    adm = Admission(2, 32, max_latency=0.25)
    assert admitted(adm) == 34  # no pace yet: the count decides
    for _ in range(34):  # 34 answered over the last three seconds: 11.3 a second
        adm.leave(now=100.0)
    # two always run; then no more in flight than are answered within 0.25 s
    assert sum(adm.try_enter(now=100.5) for _ in range(10)) == 2
    adm.in_flight = 0
    assert sum(adm.try_enter(now=100.5) for _ in range(10)) == 2
    # a pace older than the window no longer counts
    assert adm.try_enter(now=104.0) and adm.in_flight == 3


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a", now=0.0)
    assert 0.9 < wait <= 1.0 and RateLimiter.retry_after(wait) == "1"
    assert limiter.take("b", now=0.0) == 0.0  # per client
    assert limiter.take("a", now=1.5) == 0.0  # refilled at one a second
    assert RateLimiter(0, 3).take("a") == 0.0  # off


def test_the_widget_reads_its_page_scope_from_its_url() -> None:
    from types import SimpleNamespace

    from qa.retrieve.hybrid import Filters
    from qa.surfaces.web.ui import PageScope

    request: Any = SimpleNamespace(
        query_params={
            "article": " haiti-1 ",
            "topic": "Haiti  security\nmission",
            "since": "2025-01",
        }
    )
    scope = PageScope.of(request)
    assert scope == PageScope("haiti-1", "Haiti security mission", "2025-01")
    assert scope.prefer() == ("haiti-1",) and scope.filters() == Filters(date_from="2025-01")
    earlier = [{"role": "user", "content": "Who leads it?"}]
    assert scope.history(earlier) == [
        {"role": "user", "content": "Haiti security mission"},
        *earlier,
    ]
    bad: Any = SimpleNamespace(query_params={"since": "yesterday"})
    assert PageScope.of(bad) == PageScope() and PageScope.of(None).filters() is None
    assert PageScope().history([]) == [] and PageScope().prefer() == ()
