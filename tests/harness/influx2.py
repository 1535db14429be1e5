"""A simulated InfluxDB 2.x server and `influx` 2.x CLI, for the backup path that needs them.

No InfluxDB 2 server or 2.x CLI can be installed on these machines (docs: field notes), so
this stands in for both, keeping to what the real ones document and do:

- the server answers `/ping` with 204 and `X-Influxdb-Version: v2.7.4`, and its backup API
  (`GET /api/v2/backup/metadata`, `GET /api/v2/backup/shards/{id}`) only to an operator
  token (`Authorization: Token ...`), else 401 `{"code": "unauthorized", "message":
  "unauthorized access"}`; an unknown shard is 404;
- the CLI (`influx version`, `influx backup PATH [--host URL] [--token T]`, token and host
  also from `INFLUX_TOKEN` / `INFLUX_HOST`) writes what `influx backup` writes: per run a
  `<time>.bolt.gz` (the KV store), `<time>.sqlite.gz`, one `<time>.s<id>.tar.gz` per shard
  and `<time>.manifest` naming each file with its size and compression; on a 401 it prints
  `Error: failed to backup metadata: 401 Unauthorized: unauthorized access` and exits 1.

Every CLI call appends its argv to `argv.log` beside the script, so a test can check that no
secret went on a command line.

Example::

    with FakeInfluxDB2(token="op-token") as server:
        bin_dir = write_cli(tmp_path / "bin")
        os.environ["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = "v2.7.4"
BUCKETS: list[dict[str, Any]] = [
    {"bucketID": "0a1b2c3d4e5f6071", "bucketName": "homelab", "shards": [1, 2]}
]


def _shard(shard_id: int) -> bytes:
    """A gzip'd tar of one shard's TSM file (the bytes the real API streams)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        data = f"TSM shard {shard_id} ".encode() * 500
        info = tarfile.TarInfo(f"{shard_id}/000000001-000000001.tsm")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


class FakeInfluxDB2:
    """The server side, on a free loopback port, in a thread."""

    def __init__(self, token: str) -> None:
        self.token = token
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("X-Influxdb-Version", VERSION)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                """The routes the backup uses."""
                if self.path == "/ping":
                    self._send(204, b"")
                    return
                if self.headers.get("Authorization") != f"Token {outer.token}":
                    body = {"code": "unauthorized", "message": "unauthorized access"}
                    self._send(401, json.dumps(body).encode())
                    return
                if self.path == "/api/v2/backup/metadata":
                    doc = {"kv": "bolt-bytes", "sql": "sqlite-bytes", "buckets": BUCKETS}
                    self._send(200, json.dumps(doc).encode())
                elif self.path.startswith("/api/v2/backup/shards/"):
                    shard = self.path.rsplit("/", 1)[1]
                    known = {s for b in BUCKETS for s in b["shards"]}
                    if not shard.isdigit() or int(shard) not in known:
                        self._send(404, b'{"code": "not found", "message": "shard not found"}')
                    else:
                        self._send(200, _shard(int(shard)), "application/octet-stream")
                else:
                    self._send(404, b'{"code": "not found", "message": "path not found"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeInfluxDB2:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


CLI = r'''
import gzip, json, os, sys, time, urllib.error, urllib.request
from pathlib import Path

with open(Path(__file__).with_name("argv.log"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if args[:1] == ["version"]:
    print("Influx CLI 2.7.3 (git: 8b962c7e75) build_date: 2023-04-28T14:24:46Z")
    sys.exit(0)
if args[:1] != ["backup"] or len(args) < 2:
    print("Error: unknown command", file=sys.stderr)
    sys.exit(1)
dest = Path(args[1])
opts = dict(zip(args[2::2], args[3::2]))
host = opts.get("--host") or os.environ.get("INFLUX_HOST", "http://localhost:8086")
token = opts.get("--token") or os.environ.get("INFLUX_TOKEN", "")

def get(path):
    req = urllib.request.Request(host + path, headers={"Authorization": "Token " + token})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()
    except urllib.error.HTTPError as exc:
        doc = json.loads(exc.read() or b"{}")
        print(f"Error: failed to backup metadata: {exc.code} {exc.reason}: "
              f"{doc.get('message', '')}", file=sys.stderr)
        sys.exit(1)

meta = json.loads(get("/api/v2/backup/metadata"))
dest.mkdir(parents=True, exist_ok=True)
stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

def entry(name, data):
    (dest / name).write_bytes(data)
    return {"fileName": name, "size": len(data), "compression": "gzip"}

manifest = {
    "kv": entry(f"{stamp}.bolt.gz", gzip.compress(meta["kv"].encode())),
    "sql": entry(f"{stamp}.sqlite.gz", gzip.compress(meta["sql"].encode())),
    "buckets": [],
}
for b in meta["buckets"]:
    shards = [{"id": s, "shardOwners": [{"nodeID": 0}],
               **entry(f"{stamp}.s{s}.tar.gz", get(f"/api/v2/backup/shards/{s}"))}
              for s in b["shards"]]
    manifest["buckets"].append({
        "organizationID": "1a2b3c4d5e6f7081", "organizationName": "home",
        "bucketID": b["bucketID"], "bucketName": b["bucketName"],
        "defaultRetentionPolicy": "autogen",
        "retentionPolicies": [{"name": "autogen", "replicaN": 1, "duration": 0,
                               "shardGroupDuration": 604800000000000,
                               "shardGroups": [{"id": 1, "startTime": "2026-11-30T00:00:00Z",
                                                "endTime": "2026-12-07T00:00:00Z",
                                                "shards": shards}],
                               "subscriptions": []}],
    })
(dest / f"{stamp}.manifest").write_text(json.dumps(manifest, indent=2))
'''

SHELL_1X = r'''
import sys
print("InfluxDB shell version: 1.6.7")
'''


def write_cli(folder: Path, shell_1x: bool = False) -> Path:
    """Write an executable `influx` (the 2.x CLI, or with `shell_1x` Debian's 1.x shell)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "influx"
    exe.write_text(f"#!{sys.executable}\n" + (SHELL_1X if shell_1x else CLI))
    exe.chmod(0o755)
    return folder
