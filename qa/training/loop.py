"""What the training runs share: one optimiser step, and a checkpoint file that a run cut short
resumes from (a session here is killed after a few hours, so every run must be resumable).

torch is imported only when these run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Checkpoint:
    """``work/checkpoint.pt``: a run's state, written atomically every ``every_minutes`` and
    when this run has spent ``budget_minutes`` (0: no budget). It also records the seconds of
    training of every run so far."""

    def __init__(self, work: Path, every_minutes: float, budget_minutes: float = 0.0) -> None:
        self.path = work / "checkpoint.pt"
        self.every = every_minutes * 60
        self.budget = budget_minutes * 60
        self.earlier = 0.0  # seconds of training in earlier runs
        self.started = self.last = time.time()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none."""
        import torch

        if not self.path.exists():
            return None
        state: dict[str, Any] = torch.load(self.path, weights_only=False)
        self.earlier = float(state.get("seconds", 0.0))
        return state

    def resume(self, model_key: str, model: Any, opt: Any, sched: Any) -> int | None:
        """Load the saved state into ``model`` (saved under ``model_key``), the optimiser and
        the schedule, and torch's random state when it was saved; the step to go on from, or
        None when nothing was saved."""
        import torch

        state = self.load()
        if state is None:
            return None
        model.load_state_dict(state[model_key])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        return int(state["step"])

    def minutes(self) -> float:
        """Minutes of training, every run's."""
        return (self.earlier + time.time() - self.started) / 60

    def save(self, state: dict[str, Any]) -> None:
        import torch

        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({**state, "seconds": self.minutes() * 60}, tmp)
        tmp.replace(self.path)
        self.last = time.time()

    def after_step(self, state: Callable[[], dict[str, Any]]) -> bool:
        """Save when one is due; True when the time budget is spent (the state is saved: stop,
        and run again to resume)."""
        now = time.time()
        if self.budget and now - self.started > self.budget:
            self.save(state())
            return True
        if now - self.last > self.every:
            self.save(state())
        return False


def optimiser_step(loss: Any, model: Any, opt: Any, sched: Any) -> float:
    """Back-propagate ``loss``, clip the gradient's norm at 1, step the optimiser and the
    schedule; the loss as a number."""
    import torch

    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    return float(loss.detach())
