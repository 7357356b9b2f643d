"""Property-based tests of the HTTP request bodies: whatever a client sends to the JSON API, the
server answers with the answer contract or a 4xx JSON error, never a 500 or a stack trace."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.config import Settings
from qa.pipeline import Assistant
from qa.surfaces.web.app import create_app

SCALE = int(os.environ.get("QA_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=60 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
history = st.one_of(
    st.none(),
    st.lists(st.text(max_size=60), max_size=3),
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "x"]), "content": st.text(max_size=60)}
        ),
        max_size=3,
    ),
    json_values,
)
ask_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"question": st.one_of(st.text(max_size=200), json_values)},
        optional={
            "history": history,
            "top_k": st.one_of(st.integers(-5, 100), json_values),
            "sources": st.one_of(st.lists(st.text(max_size=20), max_size=3), json_values),
            "date_from": st.one_of(st.text(max_size=12), json_values),
            "date_to": st.one_of(st.text(max_size=12), json_values),
        },
    ),
)


@pytest.fixture(scope="module")
def client(
    tiny_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("fuzz-http")
    app = create_app(
        tiny_assistant,
        Settings(
            data_dir=tmp,
            max_concurrency=2,
            max_queue=64,
            max_batch=5,
            embed_origins=(),
            rate_limit=0,
        ),
        ui=False,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert {"answer", "short_answer", "abstained", "citations"} <= set(
            body
        ) or "answers" in body
    else:
        assert response.status_code in (400, 413, 422, 429) and isinstance(body.get("error"), str)
        assert "Traceback" not in body["error"]


@FUZZ
@given(body=ask_bodies)
def test_any_json_body_to_ask(client: TestClient, body: Any) -> None:
    check(
        client.post(
            "/api/ask", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    )


@FUZZ
@given(
    questions=st.one_of(
        st.lists(st.one_of(st.text(max_size=80), ask_bodies), max_size=7), json_values
    )
)
def test_any_json_body_to_batch(client: TestClient, questions: Any) -> None:
    check(client.post("/api/batch", json={"questions": questions}))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_to_ask(client: TestClient, raw: bytes) -> None:
    check(client.post("/api/ask", content=raw, headers={"content-type": "application/json"}))
