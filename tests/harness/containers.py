"""Podman for the container test: the tools, a Debian base made with debootstrap, the images,
and a compose project run with podman-compose.

Docker's engine cannot run on the machines this project is tested on; podman can, as root,
with the project's own configuration passed through CONTAINERS_CONF (podman/containers.conf;
nothing is written to /etc). No image registry is reachable: the base image is Debian bookworm
made with debootstrap and imported, and the project is installed from a wheelhouse.

Example::

    tools = ensure_tools()                      # ToolsMissing says what to install
    base = base_image()                         # cached in podman's store, keyed by its recipe
    app = build_image(ROOT / "deploy" / "Dockerfile", ROOT, "localhost/homelab:t",
                      {"BASE_IMAGE": base.image, "WHEELHOUSE": "var/wheelhouse"})
    project = ComposeProject("t1", [COMPOSE, OVERRIDE], env)
    project.up(["prometheus", "bot"])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "podman"
ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = HERE / "containers.conf"
OVERRIDE = HERE / "compose.override.yml"
MONITORING = HERE / "monitoring.Containerfile"
INSTALL = ROOT / "scripts" / "install-container-tools"

# The Debian base: python3 and python3-venv for the project's image; apt (in minbase) for the
# monitoring image. Changing any of these changes the cached image's tag.
DEBIAN = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": "python3,python3-venv,ca-certificates",
    "mirror": os.environ.get("HOMELAB_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
}
# Cached images are rebuilt after this long, so security updates reach them.
MAX_AGE_SECONDS = 7 * 24 * 3600
# What debootstrap leaves that no image needs: the downloaded packages, the package lists
# (the monitoring image runs apt-get update itself), documentation and translations.
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
        "usr/share/locale")  # fmt: skip
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ToolsMissing(RuntimeError):
    """podman, podman-compose or debootstrap cannot be installed or cannot run here."""


class ContainerError(RuntimeError):
    """A podman command failed; the message has its command line and output."""


def podman_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment for podman and podman-compose: the project's containers.conf, and
    none of the test session's variables (conmon and aardvark-dns outlive a command, and
    scripts/check-orphans recognises the tests' processes by them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMELAB_", "PYTEST"))}
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    env.update(extra)
    return env


def run(
    args: Sequence[str],
    *,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with podman's environment; raise ContainerError when it fails."""
    proc = subprocess.run(
        list(args),
        env=dict(env) if env is not None else podman_env(),
        capture_output=True,
        text=input is None,
        input=input,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    if isinstance(proc.stdout, bytes):
        proc = subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )  # fmt: skip
    if check and proc.returncode != 0:
        raise ContainerError(
            f"{' '.join(map(str, args))} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`podman ARGS` with the project's containers.conf."""
    return run(["podman", *args], timeout=timeout, check=check)


@dataclass(frozen=True, slots=True)
class Tools:
    """The container tools' versions, as they report them."""

    podman: str
    podman_compose: str


def ensure_tools() -> Tools:
    """Install the container tools when missing (scripts/install-container-tools) and check
    that podman runs; raise ToolsMissing with the reason otherwise."""
    try:
        proc = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolsMissing(f"scripts/install-container-tools failed: {exc}") from exc
    if proc.returncode != 0:
        raise ToolsMissing(
            proc.stderr.strip() or f"install-container-tools: exit {proc.returncode}"
        )
    for tool in ("podman", "podman-compose", "debootstrap"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise ToolsMissing(f"{tool} is not on PATH after scripts/install-container-tools")
    try:
        info = podman("info", "--format", "{{.Version.Version}} {{.Host.NetworkBackend}}")
        composer = run(["podman-compose", "version"], check=False)
    except (ContainerError, OSError, subprocess.TimeoutExpired) as exc:
        raise ToolsMissing(f"podman is installed but cannot run here: {exc}") from exc
    version = next(
        (line.split()[-1] for line in composer.stdout.splitlines() if "podman-compose" in line),
        "unknown",
    )
    return Tools(podman=info.stdout.strip(), podman_compose=version)


@dataclass(frozen=True, slots=True)
class Image:
    """A built (or cached) image: its name, size, and how long making it took."""

    image: str
    size_bytes: int
    seconds: float
    cached: bool

    def describe(self) -> str:
        """One line for the test's output."""
        how = "cached" if self.cached else f"built in {self.seconds:.1f} s"
        return f"{self.image}: {self.size_bytes / 1e6:.0f} MB, {how}"


def image_info(image: str) -> dict[str, Any] | None:
    """podman's inspect output for an image, or None when it does not exist."""
    proc = podman("image", "inspect", image, check=False)
    if proc.returncode != 0:
        return None
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found[0] if found else None


def _fresh(info: dict[str, Any] | None) -> bool:
    if info is None or os.environ.get("HOMELAB_CONTAINERS_REBUILD"):
        return False
    created = info.get("Created", "")
    try:
        # podman prints nanoseconds; fromisoformat takes at most microseconds
        from datetime import datetime

        stamp = datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return False
    return time.time() - stamp.timestamp() < MAX_AGE_SECONDS


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _drop_replaced(old: dict[str, Any] | None, tag: str) -> None:
    """Remove the image a rebuild took `tag` from, unless it is still in use or tagged."""
    new = image_info(tag)
    if old is not None and new is not None and old["Id"] != new["Id"]:
        podman("image", "rm", old["Id"], check=False)


def base_image() -> Image:
    """Debian bookworm from debootstrap, imported into podman's store.

    Cached in that store under a tag that is a digest of the recipe (suite, variant, packages,
    mirror), so another recipe is another image, and rebuilt after MAX_AGE_SECONDS or with
    HOMELAB_CONTAINERS_REBUILD=1. A machine that never built it (a clean CI runner) builds it.
    """
    tag = f"localhost/homelab-debian:{DEBIAN['suite']}-{_digest(*DEBIAN.values(), *TRIM)}"
    info = image_info(tag)
    if _fresh(info):
        assert info is not None
        return Image(tag, int(info["Size"]), 0.0, cached=True)
    started = time.monotonic()
    # Under /var/tmp, not /tmp (often a small tmpfs): the tree is about 275 MB before trimming.
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="homelab-debootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
        run(
            [debootstrap, f"--variant={DEBIAN['variant']}", f"--include={DEBIAN['include']}",
             DEBIAN["suite"], str(rootfs), DEBIAN["mirror"]],
            timeout=600,
        )  # fmt: skip
        for part in TRIM:
            for child in (rootfs / part).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            subprocess.run(
                ["podman", "import", "--change", f"ENV PATH={PATH}",
                 "--change", 'CMD ["/bin/bash"]', "-", tag],
                stdin=tar.stdout, env=podman_env(), capture_output=True, timeout=300, check=True,
            )  # fmt: skip
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait(timeout=60)
    _drop_replaced(info, tag)
    built = image_info(tag)
    assert built is not None
    return Image(tag, int(built["Size"]), time.monotonic() - started, cached=False)


def build_image(
    containerfile: Path,
    context: Path,
    tag: str,
    build_args: Mapping[str, str],
    *,
    cache_key: str | None = None,
) -> Image:
    """`podman build` without intermediate layers (no cache images are left behind).

    With `cache_key`, an image already built from the same key (and fresh) is reused: for
    images made only of Debian's packages on a given base, not for the project's own.
    """
    if cache_key is not None:
        tag = f"{tag.rsplit(':', 1)[0]}:{_digest(cache_key, containerfile.read_text())}"
        info = image_info(tag)
        if _fresh(info):
            assert info is not None
            return Image(tag, int(info["Size"]), 0.0, cached=True)
    started = time.monotonic()
    args = ["podman", "build", "--layers=false", "-q", "-f", str(containerfile), "-t", tag]
    for name, value in build_args.items():
        args += ["--build-arg", f"{name}={value}"]
    replaced = image_info(tag)
    run([*args, str(context)], timeout=900)
    _drop_replaced(replaced, tag)
    info = image_info(tag)
    assert info is not None
    return Image(tag, int(info["Size"]), time.monotonic() - started, cached=False)


def wheelhouse(into: Path) -> float:
    """`pip wheel` of the project and its dependencies into `into` (emptied first); seconds."""
    started = time.monotonic()
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(into), str(ROOT)],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=900,
    )
    return time.monotonic() - started


@dataclass(frozen=True, slots=True)
class Resources:
    """What podman holds: container, pod, network and volume names."""

    containers: frozenset[str]
    pods: frozenset[str]
    networks: frozenset[str]
    volumes: frozenset[str]

    def of(self, project: str) -> Resources:
        """Only the project's (names starting `project_`), and anonymous volumes (64 hex
        digits), so that another run on the same machine does not count."""
        mine = re.compile(rf"{re.escape(project)}_.*|[0-9a-f]{{64}}")

        def keep(names: frozenset[str]) -> frozenset[str]:
            return frozenset(n for n in names if mine.fullmatch(n))

        return Resources(
            keep(self.containers), keep(self.pods), keep(self.networks), keep(self.volumes)
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.containers - other.containers,
            self.pods - other.pods,
            self.networks - other.networks,
            self.volumes - other.volumes,
        )


def resources() -> Resources:
    """Every container, pod, network and volume podman has, whoever made them."""

    def names(*args: str) -> frozenset[str]:
        return frozenset(podman(*args).stdout.split())

    return Resources(
        containers=names("ps", "-a", "--format", "{{.Names}}"),
        pods=names("pod", "ps", "--format", "{{.Name}}"),
        networks=names("network", "ls", "--format", "{{.Name}}"),
        volumes=names("volume", "ls", "--format", "{{.Name}}"),
    )


@dataclass
class ComposeProject:
    """A podman-compose project: `-p name` and the compose files, with its environment."""

    name: str
    files: Sequence[Path]
    env: Mapping[str, str]

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`podman-compose -p NAME -f ... ARGS`, from the first file's folder."""
        files = [a for f in self.files for a in ("-f", str(f))]
        return run(
            ["podman-compose", "-p", self.name, *files, *args],
            env=podman_env(self.env),
            timeout=timeout,
            check=check,
            cwd=Path(self.files[0]).parent,
        )

    def up(self, services: Sequence[str]) -> None:
        """Create and start the services, detached; the images must exist (no build)."""
        self.compose("up", "-d", "--no-build", *services)

    def down(self) -> None:
        """`podman-compose down` (named volumes are kept)."""
        self.compose("down", timeout=180)

    def container(self, service: str) -> str:
        """The container podman-compose 1.0.3 names for a service."""
        return f"{self.name}_{service}_1"

    def exec(
        self, service: str, *command: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a service's container."""
        return podman("exec", self.container(service), *command, timeout=timeout, check=check)

    def health(self, service: str) -> tuple[bool, str]:
        """Run the service's compose health check now (no systemd here for podman's timers):
        (healthy, what podman said)."""
        proc = podman("healthcheck", "run", self.container(service), check=False, timeout=60)
        said = (proc.stdout + proc.stderr).strip() or "healthy"
        return proc.returncode == 0, said

    def status(self) -> str:
        """`podman ps` of the project: names, status (with health) and image."""
        return podman(
            "ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}",
            "--format", "{{.Names}}\t{{.Status}}\t{{.Image}}",
        ).stdout  # fmt: skip

    def logs(self, service: str, tail: int = 40) -> str:
        """The last lines a service's container wrote."""
        proc = podman("logs", "--tail", str(tail), self.container(service), check=False)
        return proc.stdout + proc.stderr

    def purge(self) -> None:
        """Remove everything of the project, named volumes and its network included."""
        label = f"label=io.podman.compose.project={self.name}"
        for kind, listing in (
            ("container", ["ps", "-a", "-q", "--filter", label]),
            ("volume", ["volume", "ls", "-q", "--filter", label]),
            ("network", ["network", "ls", "-q", "--filter", label]),
        ):
            ids = podman(*listing, check=False).stdout.split()
            if ids:
                remove = ["rm", "-f", "-t", "2"] if kind == "container" else [kind, "rm", "-f"]
                podman(*remove, *ids, check=False, timeout=120)


# The compose services' ports on loopback (host networking) -> their names on the bridge.
SERVICE_PORTS = {9090: "prometheus", 9093: "alertmanager", 9101: "exporter", 9102: "bot"}


def bridge_configs(out: Path) -> Path:
    """Copies of deploy/prometheus.yml, deploy/alertmanager.yml and deploy/file_sd/*.yml in
    which each 127.0.0.1:PORT of a compose service is the service's name (each container has
    its own loopback on a bridge network); nothing else changes. Returns `out`."""
    deploy = ROOT / "deploy"
    (out / "file_sd" / "local").mkdir(parents=True, exist_ok=True)
    sources = [deploy / "prometheus.yml", deploy / "alertmanager.yml"]
    sources += sorted((deploy / "file_sd").glob("*.yml"))
    for source in sources:
        text = source.read_text()
        for port, service in SERVICE_PORTS.items():
            text = text.replace(f"127.0.0.1:{port}", f"{service}:{port}")
        target = out / source.relative_to(deploy)
        target.write_text(text)
        target.chmod(0o644)
    return out
