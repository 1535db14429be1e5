"""The web config file (node_exporter's format): validation, TLS, mTLS, basic auth, reload."""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest

from exporter.collection import Collection
from exporter.http import MetricsServer
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from exporter.webconfig import WebConfigError, load_web_config
from tests.exporter.conftest import fake_psutil
from tests.harness.services import wait_until
from tests.harness.tls import Pki, make_pki

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, server and client certificates."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config: {cert_file: a.crt}", "needs both cert_file and key_file"),
        ("tls_server_config: {cert_file: a.crt, key_file: a.key}", "cannot load cert_file"),
        ("basic_auth_users: {prometheus: hunter2}", "basic_auth_users.prometheus is not a bcrypt"),
        ("basic_auth_users: [a, b]", "must be a mapping"),
        ("tls_config: {}", "unknown key(s) tls_config"),
        ("tls_server_config: {cert_file: a, key_file: b, min_version: TLS9}", "not one of"),
        ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAnyClientCert}",
         "not supported"),
        ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
         "RequireAndVerifyClientCert}", "needs client_ca_file"),
        ("basic_auth_users: {", "not valid YAML"),
        ("tls_server_config: {cert: PEM, key: PEM}", "inline cert/key are not supported"),
    ],
)  # fmt: skip
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake gets a message naming the file and the key; a password is never echoed."""
    path = _write(tmp_path / "web.yml", text)
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "hunter2" not in str(err.value)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    """A missing file is an error; an empty one means no TLS and no auth."""
    with pytest.raises(WebConfigError, match="cannot read it"):
        load_web_config(tmp_path / "absent.yml")
    web = load_web_config(_write(tmp_path / "web.yml", ""))
    assert web.ssl_context() is None and not web.auth_required


def test_bcrypt_check_and_cache(tmp_path: Path) -> None:
    """Right password passes (then from the cache), wrong and unknown users fail."""
    web = load_web_config(_write(tmp_path / "web.yml", f"basic_auth_users:\n  p: '{HASH}'\n"))
    assert not web.cached_ok("p", PASSWORD)
    assert web.check_password("p", PASSWORD) and web.cached_ok("p", PASSWORD)
    assert not web.check_password("p", "wrong") and not web.check_password("nobody", PASSWORD)


@pytest.fixture
def serve(procfs: Path, sysfs: Path) -> Iterator[Callable[[Path], MetricsServer]]:
    """Factory: a MetricsServer with a web config file."""
    started: list[MetricsServer] = []

    def make(web_config: Path) -> MetricsServer:
        sampler = Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
        srv = MetricsServer(("127.0.0.1", 0), Exposition(Collection(sampler)),
                            web_config_file=web_config)  # fmt: skip
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _tls_config(pki: Pki, extra: str = "") -> str:
    return (f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
            f"{extra}basic_auth_users:\n  prometheus: '{HASH}'\n")  # fmt: skip


def _get(srv: MetricsServer, ctx: ssl.SSLContext | None, auth: tuple[str, str] | None,
         path: str = "/metrics") -> int:
    port = srv.server_address[1]
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10) if ctx
            else http.client.HTTPConnection("127.0.0.1", port, timeout=10))  # fmt: skip
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def test_tls_and_basic_auth(serve: Callable[[Path], MetricsServer], pki: Pki, tmp_path: Path,
                            caplog: pytest.LogCaptureFixture) -> None:
    """Over TLS: the right user gets 200, a wrong password or none 401 (counted, logged without
    the password); plain HTTP and an untrusting client fail the handshake (counted)."""
    srv = serve(_write(tmp_path / "web.yml", _tls_config(pki)))
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    caplog.set_level(logging.INFO, "exporter.http")
    assert _get(srv, ctx, ("prometheus", PASSWORD)) == 200
    assert _get(srv, ctx, ("prometheus", "guess")) == 401
    assert _get(srv, ctx, None, "/healthz") == 401
    assert srv.stats.auth_failures == {"wrong": 1, "missing": 1}
    assert "guess" not in caplog.text and "user 'prometheus'" in caplog.text
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _get(srv, None, ("prometheus", PASSWORD))
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(srv, ssl.create_default_context(cafile=str(pki.other_ca_cert)), None)
    wait_until(lambda: srv.stats.tls_failures == 2, 5, "two failed handshakes counted")
    assert "TLS handshake with 127.0.0.1" in caplog.text


def test_mutual_tls(serve: Callable[[Path], MetricsServer], pki: Pki, tmp_path: Path) -> None:
    """RequireAndVerifyClientCert: a client cert signed by client_ca_file is needed."""
    extra = (f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca_cert}\n"
             "  min_version: TLS13\n")  # fmt: skip
    srv = serve(_write(tmp_path / "web.yml", _tls_config(pki, extra)))
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(pki.client_cert, pki.client_key)
    assert _get(srv, ctx, ("prometheus", PASSWORD)) == 200
    bare = ssl.create_default_context(cafile=str(pki.ca_cert))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(srv, bare, ("prometheus", PASSWORD))
    old = ssl.create_default_context(cafile=str(pki.ca_cert))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    old.load_cert_chain(pki.client_cert, pki.client_key)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(srv, old, ("prometheus", PASSWORD))  # below min_version
    wait_until(lambda: srv.stats.tls_failures == 2, 5, "two failed handshakes counted")


def test_reload_switches_on_and_keeps_the_old_on_error(
    serve: Callable[[Path], MetricsServer], pki: Pki, tmp_path: Path
) -> None:
    """Reloading turns TLS and auth on; a broken file leaves the previous config in force."""
    path = _write(tmp_path / "web.yml", "")
    srv = serve(path)
    assert _get(srv, None, None) == 200
    path.write_text(_tls_config(pki))
    assert srv.reload_web_config()
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    assert _get(srv, ctx, ("prometheus", PASSWORD)) == 200
    path.write_text("basic_auth_users: {prometheus: plain}\n")
    assert not srv.reload_web_config()
    assert srv.stats.reload_ok is False
    assert _get(srv, ctx, ("prometheus", PASSWORD)) == 200  # still the TLS + auth config
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")  # plain HTTP to the TLS port
        assert not s.recv(100).startswith(b"HTTP/1.1 200")
