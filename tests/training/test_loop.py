"""The checkpoint every training run resumes from."""

from __future__ import annotations

import time
from pathlib import Path

from qa.training.loop import Checkpoint


def test_a_spent_budget_saves_and_a_new_run_resumes_with_the_seconds(tmp_path: Path) -> None:
    first = Checkpoint(tmp_path, every_minutes=60, budget_minutes=1e-6)
    assert first.load() is None
    time.sleep(0.01)
    assert first.after_step(lambda: {"step": 3})  # the budget is spent: saved, stop
    again = Checkpoint(tmp_path, every_minutes=60)
    state = again.load()
    assert state is not None and state["step"] == 3 and state["seconds"] > 0
    assert again.minutes() * 60 >= state["seconds"]  # earlier runs' seconds count
    assert not again.after_step(lambda: {"step": 4})  # no budget, no save due
    assert again.load() == state
    assert not list(tmp_path.glob("*.tmp"))


def test_a_save_falls_due_every_few_minutes(tmp_path: Path) -> None:
    ckpt = Checkpoint(tmp_path, every_minutes=1e-6)
    time.sleep(0.01)
    assert not ckpt.after_step(lambda: {"step": 1})
    state = ckpt.load()
    assert state is not None and state["step"] == 1
