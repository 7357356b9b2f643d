"""A non-editable install works: the package's data (the reader model, its parameters, the
lexicon) comes from the installed copy, and `qa index` / `qa ask` run from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # builds and installs a wheel of the project

ARTICLE = """---
id: orchard
title: "Record pear harvest in Tellin"
---
Growers in Tellin picked 5,000 tonnes of pears this autumn, a record.
Mayor Ines Roth praised the pickers at the market on Saturday.
"""


def test_installed_copy_indexes_and_answers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    installed = site / "qa"
    assert (installed / "read" / "models" / "reader" / "model.onnx").is_file()
    assert (installed / "lexicon.json").is_file()
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "orchard.md").write_text(ARTICLE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "QA_MODEL": "hash"}

    def run(*args: str) -> str:
        """Run Python with only the installed copy on the path, from outside the project."""
        done = subprocess.run(
            [sys.executable, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    cli = ("-c", "from qa.surfaces.cli import main; main()")
    where = run("-c", "import qa, qa.read.model as m; print(qa.__file__, m.model_dir())")
    assert str(site) in where and str(ROOT / "qa") not in where
    index = tmp_path / "index"
    run(*cli, "index", str(corpus), "--index-dir", str(index), "-q")
    question = "How many tonnes of pears were picked in Tellin?"
    answer = json.loads(run(*cli, "ask", question, "--index-dir", str(index), "--json"))
    assert "5,000 tonnes" in answer["answer"]
