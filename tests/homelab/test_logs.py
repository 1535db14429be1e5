"""Logging goes through one handler whose filter redacts secrets."""

from __future__ import annotations

import io
import logging

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
