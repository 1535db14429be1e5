"""Logging goes through one handler whose filter redacts secrets."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from homelab import logs


def test_registered_secret_is_redacted_in_message_args_and_traceback() -> None:
    """A registered secret never reaches the output, whether in args or in an exception."""
    out = io.StringIO()
    logs.configure("DEBUG", secrets=["canary-9f8e7d6c"], stream=out)
    log = logging.getLogger("test.redact")
    log.debug("connecting with %s", "canary-9f8e7d6c")
    try:
        raise RuntimeError("bad token canary-9f8e7d6c")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert "canary-9f8e7d6c" not in text
    assert text.count(logs.REDACTED) >= 2
    assert "connecting with" in text and "RuntimeError" in text


def test_secret_shapes_are_redacted_without_registration() -> None:
    """Webhook URLs, bearer headers, passwords and URL credentials are masked by shape."""
    samples = {
        "https://discord.com/api/webhooks/123456/AbC-dEf_123": "AbC-dEf_123",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload": "eyJhbGciOiJIUzI1NiJ9",
        "password=hunter2hunter2": "hunter2hunter2",
        '{"token": "tok-abcdef-123456"}': "tok-abcdef-123456",
        "http://admin:pa55word@influx:8086/write": "pa55word",
        "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123": "GabcDE.abcdef",
    }
    for text, secret in samples.items():
        assert secret not in logs.redact(text), text


def test_ordinary_text_is_untouched() -> None:
    """Redaction does not mangle ordinary log lines."""
    line = "scraped 42 targets from http://127.0.0.1:9090 in 0.3 s"
    assert logs.redact(line) == line


def test_more_secret_shapes_are_redacted() -> None:
    """Query-string passwords, quoted values with spaces, access keys and Slack webhooks."""
    samples = {
        "POST /write?db=telegraf&u=admin&p=hunter2hunter2 HTTP/1.1": "hunter2hunter2",
        "password: 'my pass phrase' rejected": "pass phrase",
        "aws access_key=AKIAEXAMPLEKEY1": "AKIAEXAMPLEKEY1",
        "posting to https://hooks.slack.com/services/T00/B00/XXXXsecret": "XXXXsecret",
    }
    for text, secret in samples.items():
        assert secret not in logs.redact(text), text
    assert logs.redact("GET /write?db=telegraf&u=admin") == "GET /write?db=telegraf&u=admin"


def test_registered_secret_is_redacted_when_url_encoded() -> None:
    """A registered secret is caught in its percent-encoded and form-encoded spellings too."""
    out = io.StringIO()
    logs.configure("DEBUG", secrets=["pa$$ word/9"], stream=out)
    logging.getLogger("test.encoded").info(
        "GET /write?p=pa%24%24%20word%2F9 and p=pa%24%24+word%2F9"
    )
    assert "pa%24%24" not in out.getvalue()


def test_uncaught_exception_goes_through_the_filter() -> None:
    """A crash's traceback is logged through the redacting handler, not printed raw."""
    code = (
        "from homelab import logs; logs.configure('INFO', secrets=['canary-uncaught-42']); "
        "raise RuntimeError('failed with canary-uncaught-42')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "uncaught exception" in out.stderr and "RuntimeError" in out.stderr
    assert "canary-uncaught-42" not in out.stderr + out.stdout


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_lets_one_event_per_key_through_per_interval_with_a_count() -> None:
    """Within the interval repeats are held back; the next one let through says how many."""
    clock = _Clock()
    throttle = logs.Throttle(60, clock=clock)
    assert throttle.allow("full") == 0
    assert [throttle.allow("full") for _ in range(3)] == [None, None, None]
    assert throttle.allow("other") == 0  # keys are independent
    clock.now += 59.9
    assert throttle.allow("full") is None
    clock.now += 0.1
    held = throttle.allow("full")
    assert held == 4 and throttle.note(held) == " (and 4 more like it in the last 60 s)"
    clock.now += 60
    assert throttle.allow("full") == 0 and throttle.note(0) == ""
