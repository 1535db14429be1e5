"""docker-compose.yml, deploy/Dockerfile and .env.example: schema, mounts, pins, secrets."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from homelab.settings import load_settings
from tests.deploy.envcheck import unknown_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec.json"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {"prometheus", "alertmanager", "influxdb", "grafana", "exporter", "bot"}
HOST_PATHS = {"/proc", "/sys", "/"}


def compose() -> dict[str, Any]:
    """The parsed compose file."""
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Compose Specification violations of `doc`."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def bind_mounts() -> list[tuple[str, str, str]]:
    """(service, host path, container path) of every bind mount."""
    found = []
    for name, svc in compose()["services"].items():
        for vol in svc.get("volumes", []):
            source, target = vol.split(":")[:2]
            if source.startswith((".", "/")):
                found.append((name, source, target))
    return found


def test_compose_file_follows_the_compose_specification() -> None:
    """docker-compose.yml validates against the Compose Specification JSON schema."""
    assert schema_errors(compose()) == []


def test_schema_check_rejects_a_misspelt_key() -> None:
    """The schema check is live: a misspelt service key is reported."""
    doc = compose()
    doc["services"]["bot"]["helthcheck"] = doc["services"]["bot"].pop("healthcheck")
    errors = schema_errors(doc)
    assert errors and "helthcheck" in errors[0]


def test_stack_has_the_six_services_each_with_a_healthcheck() -> None:
    """prometheus, alertmanager, influxdb, grafana, exporter and bot, all health-checked."""
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and "127.0.0.1" in " ".join(test), name


def test_images_are_pinned() -> None:
    """Every image has an explicit version tag; none is `latest`."""
    for name, svc in compose()["services"].items():
        image = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", svc["image"])  # the default tag
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: image {image} is not pinned"


def test_every_mounted_repository_file_exists() -> None:
    """Bind-mounted paths from the repository exist; the rest are the host's /proc, /sys, /."""
    for service, source, _ in bind_mounts():
        if source.startswith("/"):
            assert source in HOST_PATHS, f"{service} mounts unexpected host path {source}"
        else:
            assert (ROOT / source).exists(), f"{service} mounts {source}, which does not exist"
    build = {s["build"]["dockerfile"] for s in compose()["services"].values() if "build" in s}
    assert build == {"deploy/Dockerfile"} and DOCKERFILE.is_file()


def test_secret_files_are_documented_and_git_ignored() -> None:
    """Secret files live under var/ (git-ignored) and .env.example says how to create them."""
    ignored = (ROOT / ".gitignore").read_text().split()
    for name, secret in compose()["secrets"].items():
        path = secret["file"].removeprefix("./")
        assert path.startswith("var/") and "var/" in ignored, name
        assert path in ENV_EXAMPLE.read_text(), f"{path} is not explained in .env.example"


def test_every_variable_is_in_env_example_and_secrets_are_required() -> None:
    """Each ${VAR} of the compose file is listed in .env.example; secrets have no default, and
    the ones .env.example calls required stop compose with a message naming them."""
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    assert used == listed
    required_part = example.split("# -- required")[1].split("# -- optional")[0]
    required = set(re.findall(r"^([A-Z_]+)=", required_part, flags=re.M))
    assert required == {"INFLUXDB_PASSWORD", "INFLUXDB_TOKEN", "GRAFANA_ADMIN_PASSWORD"}
    for secret in required:
        for message in re.findall(rf"\$\{{{secret}:\?([^}}]*)\}}", text) or ["(none)"]:
            assert message == f"set {secret} in .env (see .env.example)", secret
    # The Discord token is optional (the console face runs without it), but never defaulted.
    assert re.findall(r"\$\{DISCORD_TOKEN[^}]*\}", text) == ["${DISCORD_TOKEN}"]


def test_exporter_sees_the_host_read_only() -> None:
    """The exporter: host network and pid namespace, /proc and /sys read-only, paths set."""
    svc = compose()["services"]["exporter"]
    assert svc["network_mode"] == "host" and svc["pid"] == "host"
    assert svc["read_only"] is True
    mounts = {v.split(":")[0]: v.split(":", 1)[1] for v in svc["volumes"]}
    assert mounts["/proc"] == "/host/proc:ro" and mounts["/sys"] == "/host/sys:ro"
    assert mounts["/"].startswith("/host/root:ro")
    env = svc["environment"]
    assert env["HOMELAB_EXPORTER__PROCFS_PATH"] == "/host/proc"
    assert env["HOMELAB_EXPORTER__SYSFS_PATH"] == "/host/sys"


def test_bot_state_is_on_a_named_volume() -> None:
    """The bot's database and images live on a named volume."""
    doc = compose()
    svc = doc["services"]["bot"]
    volume, target = svc["volumes"][0].split(":")
    assert volume in doc["volumes"]
    assert svc["environment"]["HOMELAB_BOT__DATABASE_PATH"].startswith(target + "/")


def _container_files(service: dict[str, Any]) -> dict[PurePosixPath, str]:
    """Container path -> source, for bind mounts and secrets."""
    files = {}
    for vol in service.get("volumes", []):
        source, target = vol.split(":")[:2]
        files[PurePosixPath(target)] = source
    for secret in service.get("secrets", []):
        files[PurePosixPath(secret["target"])] = secret["source"]
    return files


def _inside(path: PurePosixPath, files: dict[PurePosixPath, str]) -> bool:
    return any(path == f or f in path.parents for f in files)


def test_relative_paths_in_the_configs_resolve_inside_the_containers() -> None:
    """Rule files, file_sd and the webhook token file resolve to mounted paths in compose."""
    services = compose()["services"]
    prom = services["prometheus"]
    conf = PurePosixPath(next(a for a in prom["command"] if "--config.file" in a).split("=")[1])
    files = _container_files(prom)
    assert _inside(conf, files)
    cfg = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    paths = list(cfg["rule_files"]) + [
        f
        for job in cfg["scrape_configs"]
        for sd in job.get("file_sd_configs", [])
        for f in sd["files"]
    ]
    for rel in paths:
        resolved = PurePosixPath(*_normalise(conf.parent / rel).parts)
        assert _inside(resolved.parent, files), f"{rel} -> {resolved} is not mounted"
    am = services["alertmanager"]
    conf = PurePosixPath(next(a for a in am["command"] if "--config.file" in a).split("=")[1])
    hook = yaml.safe_load((ROOT / "deploy" / "alertmanager.yml").read_text())["receivers"][0]
    rel = hook["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"]
    token = _normalise(conf.parent / rel)
    assert token in _container_files(am), f"{token} is not mounted into alertmanager"
    assert token in _container_files(services["bot"]), "the bot needs the same token file"


def _normalise(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def test_dockerfile_is_pinned_unprivileged_and_builds_from_existing_paths() -> None:
    """Base image pinned, runs as a non-root user, COPY sources exist, commands are installed."""
    text = DOCKERFILE.read_text()
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
    assert default and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", default.group(1))
    for base in re.findall(r"^FROM (\S+)", text, flags=re.M):
        assert base == "${BASE_IMAGE}", f"FROM {base}: the base is the BASE_IMAGE build argument"
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1] not in {"root", "0"}
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name in ("exporter", "bot"):
        command = compose()["services"][name]["command"][0]
        assert command in scripts, f"{name} runs {command}, which pyproject does not install"


def test_dockerignore_lets_in_what_the_wheel_is_built_from() -> None:
    """.dockerignore admits the packages and every file the wheel force-includes (a build
    from the sources fails without them), and keeps var/ out but for the wheelhouse."""
    lines = (ROOT / ".dockerignore").read_text().split()
    allowed = {line[1:] for line in lines if line.startswith("!")}
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    wheel = hatch["targets"]["wheel"]
    assert set(wheel["packages"]) | set(wheel["force-include"]) | {"pyproject.toml"} <= allowed
    assert "*" in lines and not any(a.startswith("var") for a in allowed - {"var/wheelhouse"})


def _default(value: str) -> str:
    """`${VAR:-default}` -> default; anything else unchanged."""
    m = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return m.group(1) if m else value


def _listen_hosts(name: str) -> dict[str, str]:
    """Every listen setting of a service, as `setting -> host` with defaults applied."""
    svc = compose()["services"][name]
    found: dict[str, str] = {}
    for arg in svc.get("command") or []:
        if arg.startswith("--web.listen-address="):
            found["--web.listen-address"] = _default(arg.split("=", 1)[1].rsplit(":", 1)[0])
        if arg.startswith("--cluster.listen-address="):
            found["--cluster.listen-address"] = arg.split("=", 1)[1]
    env = svc.get("environment") or {}
    for key in (
        "INFLUXD_HTTP_BIND_ADDRESS",
        "GF_SERVER_HTTP_ADDR",
        "HOMELAB_EXPORTER__LISTEN_ADDRESS",
        "HOMELAB_BOT__WEB__LISTEN_ADDRESS",
    ):
        if key in env:
            value = _default(str(env[key]))
            found[key] = value.rsplit(":", 1)[0] if key.endswith("BIND_ADDRESS") else value
    return found


# What each service must set, and where it must listen by default. The exporter is scraped
# from the Prometheus host, so it listens on every address; the bot's web face defaults to
# 127.0.0.1 in its own settings when compose sets nothing.
LISTEN_EXPECTED = {
    "prometheus": {"--web.listen-address": "127.0.0.1"},
    # an empty cluster address turns gossip off (the default would be 0.0.0.0:9094)
    "alertmanager": {"--web.listen-address": "127.0.0.1", "--cluster.listen-address": ""},
    "influxdb": {"INFLUXD_HTTP_BIND_ADDRESS": "127.0.0.1"},
    "grafana": {"GF_SERVER_HTTP_ADDR": "127.0.0.1"},
    "exporter": {"HOMELAB_EXPORTER__LISTEN_ADDRESS": "0.0.0.0"},
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_listen_on_loopback_by_default(name: str) -> None:
    """Every listen setting is explicit and, but for the exporter, on 127.0.0.1 by default."""
    found = _listen_hosts(name)
    if name == "bot":
        assert found.get("HOMELAB_BOT__WEB__LISTEN_ADDRESS", "127.0.0.1") == "127.0.0.1"
        return
    assert found == LISTEN_EXPECTED[name]


def _settings_env(env: dict[str, str]) -> dict[str, str]:
    """Compose values with ${VAR:-default} replaced by the default, ${VAR:?...} by 'x' and
    ${VAR} by nothing."""
    out = {}
    for key, value in env.items():
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        value = re.sub(r"\$\{[A-Z_]+\}", "", value)
        out[key] = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "x", value)
    return out


@pytest.mark.parametrize(
    ("service", "loader"),
    [("exporter", "exporter.settings:ExporterSettings"), ("bot", "bot.settings:BotSettings")],
)
def test_compose_environment_is_accepted_by_the_programs_settings(
    service: str, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every HOMELAB_* variable the compose file sets is a valid setting of that program."""
    module, cls = loader.split(":")
    settings_cls = getattr(importlib.import_module(module), cls)
    for key in list(os.environ):
        if key.startswith("HOMELAB_"):
            monkeypatch.delenv(key)
    env = _settings_env(compose()["services"][service]["environment"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert unknown_settings(env) == [], f"{service} has no such setting"
    settings = load_settings(settings_cls, None)
    assert settings.masked()  # loaded without ConfigError


# -- secret files: readable by the containers' users ------------------------------------------

SETUP_DOC = ROOT / "docs" / "monitoring-setup.md"
# The users the containers read the secret files as: prom/alertmanager images run as nobody
# (USER 65534 in their Dockerfile); the bot image's user is created in deploy/Dockerfile.
NOBODY = 65534


def documented_secret_commands() -> list[str]:
    """The shell commands .env.example gives for creating the secret files, in order."""
    return re.findall(
        r"^#   ((?:install|test|chmod) .*var/secrets.*)$", ENV_EXAMPLE.read_text(), flags=re.M
    )


def bot_uid() -> int:
    """The uid deploy/Dockerfile creates for the image's user."""
    found = re.search(r"--uid (\d+)", DOCKERFILE.read_text())
    assert found, "deploy/Dockerfile creates no user with a fixed --uid"
    return int(found.group(1))


def readable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a process with that uid and gid (no supplementary groups, not root) may read
    the file, by its owner, group and mode as a bind mount shows them inside a container."""
    st = path.stat()
    if st.st_uid == uid:
        return bool(st.st_mode & 0o400)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o040)
    return bool(st.st_mode & 0o004)


def container_readers() -> dict[str, tuple[int, int]]:
    """service -> (uid, gid) for the services that mount secret files."""
    uid = bot_uid()
    readers = {"alertmanager": (NOBODY, NOBODY), "bot": (uid, uid)}
    mounting = {n for n, s in compose()["services"].items() if s.get("secrets")}
    assert mounting == set(readers), f"who reads the secrets? {mounting}"
    return readers


def _run_documented(cwd: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing; .env.example's commands use it: apt install openssl")
    script = "set -e\n" + "\n".join(documented_secret_commands()) + "\n"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_docs_give_the_same_secret_commands_for_every_compose_secret() -> None:
    """.env.example and docs/monitoring-setup.md show the same commands, and they create each
    file the compose file mounts as a secret."""
    commands = documented_secret_commands()
    assert commands, ".env.example shows no commands for var/secrets"
    setup = SETUP_DOC.read_text()
    for command in commands:
        assert command in setup, f"docs/monitoring-setup.md lacks: {command}"
    for name, secret in compose()["secrets"].items():
        path = secret["file"].removeprefix("./")
        assert any(path in c for c in commands if c.startswith("test")), f"{name}: not created"
        assert path in commands[-1], f"{name}: the final chmod does not cover {path}"
        for service, svc in compose()["services"].items():
            for ref in svc.get("secrets", []):
                assert not {"uid", "gid", "mode"} & set(ref), (
                    f"{service}: compose ignores uid/gid/mode for file secrets (bind mounts)"
                )


def test_documented_commands_make_the_secrets_readable_in_the_containers(tmp_path: Path) -> None:
    """After `make run` left a 0600 token, the documented commands keep the token's value and
    leave every secret file readable by Alertmanager (nobody) and the bot (uid 10001), with
    var/secrets/ closed to other host users (0700)."""
    secrets = tmp_path / "var" / "secrets"
    secrets.mkdir(parents=True)
    token = secrets / "alertmanager-webhook-token"
    token.write_text("from-make-run\n")
    token.chmod(0o600)  # as homelab/stack.py creates it
    readers = container_readers()
    assert not all(readable_by(token, *ids) for ids in readers.values()), "check is not live"

    _run_documented(tmp_path)

    assert token.read_text() == "from-make-run\n", "an existing token must be kept"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name, secret in compose()["secrets"].items():
        path = tmp_path / secret["file"]
        for service, ids in readers.items():
            assert readable_by(path, *ids), f"{service} (uid {ids[0]}) cannot read {name}"


def test_documented_commands_create_a_fresh_random_token(tmp_path: Path) -> None:
    """On a fresh checkout the commands create a 64-hex-digit token; running them again keeps it."""
    _run_documented(tmp_path)
    token = tmp_path / "var" / "secrets" / "alertmanager-webhook-token"
    first = token.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", first)
    _run_documented(tmp_path)
    assert token.read_text() == first


# -- the container test's override (tests/integration/test_containers.py) ----------------------

OVERRIDE = ROOT / "tests" / "harness" / "podman" / "compose.override.yml"
# What the override may change, and why: host networking (network_mode, the bot's listen and
# service addresses), the images no registry can give here, the exporter's InfluxDB writes (no
# InfluxDB 2.x), and the secret files' folder.
OVERRIDE_MAY = {
    "prometheus": {"image", "entrypoint", "network_mode", "volumes"},
    "alertmanager": {"image", "entrypoint", "network_mode", "volumes"},
    "exporter": {"network_mode", "environment"},
    "bot": {"network_mode", "environment"},
}


def test_the_container_tests_override_swaps_only_what_cannot_run_here() -> None:
    """The override changes only networking, images and the InfluxDB writes; each mount it
    gives replaces one of compose's (same target and options: podman-compose 1.0.3 appends
    any other), and each secret it names is one of compose's."""
    override = yaml.safe_load(OVERRIDE.read_text())
    services = compose()["services"]
    assert set(override["services"]) == set(OVERRIDE_MAY)
    for name, svc in override["services"].items():
        assert set(svc) <= OVERRIDE_MAY[name], name
        assert svc["network_mode"] == "" and services[name]["network_mode"] == "host"
        shipped = {v.split(":", 1)[1] for v in services[name].get("volumes", [])}
        for volume in svc.get("volumes", []):
            assert volume.split(":", 1)[1] in shipped, f"{name}: {volume} adds a mount"
        for key in svc.get("environment", {}):
            assert key.startswith(("HOMELAB_BOT__WEB__", "HOMELAB_BOT__PROMETHEUS__URL",
                                   "HOMELAB_BOT__ALERTS__ALERTMANAGER_URL",
                                   "HOMELAB_EXPORTER__INFLUX__ENABLED")), key  # fmt: skip
    assert set(override["secrets"]) == set(compose()["secrets"])
