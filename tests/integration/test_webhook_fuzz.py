"""10,000 fuzzed bodies against the real `homelab-bot run`: each answered 4xx (or 200 when it
happens to be a valid payload), never 5xx, and the process stays up, its log free of
tracebacks and of the canary token."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bot.domain.alerts.test_model import PAYLOAD
from tests.harness.bot import Bot

pytestmark = pytest.mark.integration

CANARY = "canary-fuzz-Hq2Wd9Xk4Lm7Np1R"
BATCH, BATCHES = 50, 200
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=8,
)


def _mutated(choice: tuple[str, str, Any]) -> bytes:
    doc = json.loads(json.dumps(PAYLOAD))
    where, key, value = choice
    (doc if where == "top" else doc["alerts"][0])[key] = value
    return json.dumps(doc).encode()


TOP_KEYS = st.sampled_from(["version", "alerts", "status", "truncatedAlerts", "groupLabels",
                            "commonLabels", "externalURL", "receiver"])  # fmt: skip
ALERT_KEYS = st.sampled_from(["status", "labels", "annotations", "startsAt", "endsAt",
                              "fingerprint", "generatorURL"])  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda d: json.dumps(d).encode()),
    st.tuples(st.just("top"), TOP_KEYS, JSON).map(_mutated),
    st.tuples(st.just("alert"), ALERT_KEYS, JSON).map(_mutated),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real bot with a bearer token, once for the module."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    token = tmp / "token"
    token.write_text(CANARY + "\n")
    b = Bot(tmp / "bot", alerts={"credentials_file": str(token)}).start()
    yield b
    b.stop()


def test_ten_thousand_fuzzed_bodies_leave_the_receiver_standing(bot: Any) -> None:
    """Every answer is 200/400/413/422 (never 5xx), and the bot still answers afterwards."""
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
    seen: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {CANARY}", "Content-Type": "application/json"}

    # Bodies are drawn 50 at a time (hypothesis's per-example cost dominates one request).
    @settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(BODIES, min_size=BATCH, max_size=BATCH))
    def post(bodies: list[bytes]) -> None:
        for body in bodies:
            conn.request("POST", "/webhooks/alertmanager", body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            seen[resp.status] = seen.get(resp.status, 0) + 1
            assert resp.status in (200, 400, 413, 422), (resp.status, body[:200], answer[:200])
            assert CANARY.encode() not in answer

    post()
    assert sum(seen.values()) == BATCH * BATCHES == 10_000
    assert seen.get(400, 0) > 0 and seen.get(422, 0) > 0
    assert bot.running()
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    log = bot.log_path.read_text(errors="replace")
    assert "Traceback" not in log and CANARY not in log
