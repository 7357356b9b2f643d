"""Refusing work the server cannot take, before it starts: a per-client rate limit (429) and a
bound on questions in progress (503), both checked at the ASGI edge, before the body is read."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

PACE_WINDOW = 3.0  # seconds of finished requests the admission's pace is taken over
PACE_MIN = 5  # finished requests needed before the pace counts
MAX_CLIENTS = 10_000  # clients remembered by the rate limiter (least recently seen dropped)


class Admission:
    """Bounds the API: ``running`` questions computed at once plus at most ``waiting`` queued,
    and, once the server has a recent pace, no more in flight than it answers within
    ``max_latency`` seconds (Little's law: in flight / answers a second); past that a request is
    refused at once (503 with Retry-After) instead of queueing behind the others."""

    def __init__(self, running: int, waiting: int, max_latency: float = 0.0) -> None:
        self.running = max(1, running)
        self.limit = self.running + max(0, waiting)
        self.max_latency = max_latency
        self.in_flight = 0
        self._done: deque[float] = deque()  # when recent requests finished
        self._lock = threading.Lock()

    def _pace(self, now: float) -> float:
        """Requests finished a second over the last PACE_WINDOW seconds (0: too few to say)."""
        while self._done and now - self._done[0] > PACE_WINDOW:
            self._done.popleft()
        return len(self._done) / PACE_WINDOW if len(self._done) >= PACE_MIN else 0.0

    def try_enter(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            if self.max_latency > 0 and self.in_flight >= self.running:
                pace = self._pace(now)
                if pace > 0 and (self.in_flight + 1) / pace > self.max_latency:
                    return False
            self.in_flight += 1
            return True

    def leave(self, now: float | None = None) -> None:
        with self._lock:
            self.in_flight -= 1
            self._done.append(time.monotonic() if now is None else now)


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute on average, ``burst`` at
    once. ``per_minute <= 0`` turns it off."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = max(0, per_minute) / 60.0  # tokens a second
        self.burst = float(max(1, burst))
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str, now: float | None = None) -> float:
        """0 when ``client`` may go on; else the seconds until it may (the Retry-After)."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


__all__ = ["Admission", "RateLimiter"]
