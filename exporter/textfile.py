"""node_exporter's textfile collector: the metrics of every `*.prom` file in a directory.

At each scrape `TextfileReader.read` lists the directory (the `textfile_directory` setting,
node_exporter's --collector.textfile.directory; a glob pattern names several), parses each
`*.prom` file with prometheus_client's text parser and returns their families, the mtime of
each file read, and whether any file failed. As node_exporter:

- `node_textfile_scrape_error` is 1 when the directory cannot be listed or a file cannot be
  opened or parsed, or carries client-side timestamps (the whole file is skipped), or gives a
  family a help text or type another file gave differently (that family is skipped); else 0,
  and 0 with no directory configured. The other files are still served.
- `node_textfile_mtime_seconds{file}` is the whole-second mtime of each file read.
- a family without help reads "Metric read from <files>"; families of one name from several
  files are merged.

A file is parsed again only when its inode, size or mtime changed, so an unchanged directory
costs a listing and one open and fstat per file; an empty or missing one, a listing.

Example::

    read = TextfileReader("/var/lib/node_exporter/textfile").read()
    read.metrics, read.mtimes, read.error
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from exporter.families import NO_LABELS, Family

log = logging.getLogger(__name__)

MTIME = "node_textfile_mtime_seconds"
SCRAPE_ERROR = "node_textfile_scrape_error"
SUFFIX = ".prom"


@dataclass(frozen=True, slots=True)
class TextfileRead:
    """One read of the textfile directory."""

    metrics: tuple[Metric, ...] = ()
    mtimes: tuple[tuple[str, int], ...] = ()  # (path, mtime in whole seconds) of files read
    error: bool = False


class TextfileError(ValueError):
    """A file that cannot be served (its message names the file)."""


def sample_names(metric: Metric) -> set[str]:
    """The names a family's samples can carry (counter `x` -> `x_total`, histogram buckets)."""
    name, kind = metric.name, metric.type
    if kind == "counter":
        return {name + "_total"}
    if kind == "histogram":
        return {name + "_bucket", name + "_sum", name + "_count"}
    if kind == "summary":
        return {name, name + "_sum", name + "_count"}
    return {name}


def parse(text: str, path: str) -> list[Metric]:
    """The families of one file's text, one per name, in order of first appearance.

    prometheus_client's parser renames the samples of a counter declared without `_total`
    (`# TYPE x counter`) to `x_total`; node_exporter serves them as `x`. They keep their name
    here and become untyped: OpenMetrics has no counter without `_total`.
    """
    from prometheus_client.parser import text_string_to_metric_families

    try:
        parsed = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:
        why = exc or "syntax"
        raise TextfileError(f"failed to parse textfile data from {path!r}: {why}") from None
    by_name: dict[str, Metric] = {}
    bare_counters: set[str] | None = None
    for metric in parsed:
        if any(s.timestamp is not None for s in metric.samples):
            raise TextfileError(
                f"textfile {path!r} contains unsupported client-side timestamps, skipping "
                "entire file"
            )
        if metric.type == "counter":
            if bare_counters is None:
                bare_counters = _bare_counters(text)
            if metric.name in bare_counters:
                plain = Metric(metric.name, metric.documentation, "unknown")
                plain.samples = [s._replace(name=metric.name) for s in metric.samples]
                metric = plain
        found = by_name.get(metric.name)
        if found is None:
            by_name[metric.name] = metric
        elif found.type != metric.type:
            raise TextfileError(
                f"failed to parse textfile data from {path!r}: metric "
                f"{metric.name} has types {found.type} and {metric.type}"
            )
        else:  # untyped samples of one name come as one family each
            found.samples.extend(metric.samples)
            if not found.documentation:
                found.documentation = metric.documentation
    return list(by_name.values())


def _bare_counters(text: str) -> set[str]:
    """Names declared `# TYPE <name> counter` without the `_total` suffix."""
    names = set()
    for line in text.splitlines():
        if line.startswith("#") and "TYPE" in line:
            parts = line.split()
            if (len(parts) == 4 and parts[1] == "TYPE" and parts[3] == "counter"
                    and not parts[2].endswith("_total")):  # fmt: skip
                names.add(parts[2])
    return names


_Key = tuple[int, int, int, int]


class TextfileReader:
    """Reads the `*.prom` files of `directory` ("" reads nothing: scrape_error 0)."""

    def __init__(self, directory: str = "") -> None:
        self.directory = directory
        # path -> (inode, device, size, mtime_ns) and what that version gave
        self._cache: dict[str, tuple[_Key, list[Metric] | TextfileError]] = {}
        self._problems: frozenset[str] = frozenset()

    def _directories(self) -> list[str]:
        if glob.has_magic(self.directory):
            found = sorted(glob.glob(self.directory))
            if found:
                return found
        return [self.directory]

    def read(self) -> TextfileRead:
        """The families, mtimes and error flag of the directory as it is now."""
        if not self.directory:
            return TextfileRead()
        problems: list[str] = []
        files: list[tuple[str, list[Metric]]] = []
        mtimes: list[tuple[str, int]] = []
        cache: dict[str, tuple[_Key, list[Metric] | TextfileError]] = {}
        for directory in self._directories():
            try:
                with os.scandir(directory) as entries:
                    names = sorted(e.name for e in entries if e.name.endswith(SUFFIX))
            except OSError as exc:
                problems.append(f"failed to read textfile collector directory {directory!r}: "
                                f"{exc.strerror or exc}")  # fmt: skip
                continue
            for name in names:
                path = os.path.join(directory, name)
                try:
                    got, mtime = self._file(path, cache)
                except OSError as exc:
                    problems.append(f"failed to open textfile data file {path!r}: "
                                    f"{exc.strerror or exc}")  # fmt: skip
                    continue
                if isinstance(got, TextfileError):
                    problems.append(str(got))
                    continue
                files.append((path, got))
                mtimes.append((path, mtime))
        self._cache = cache
        metrics = _merge(files, problems)
        self._report(problems)
        return TextfileRead(tuple(metrics), tuple(mtimes), bool(problems))

    def _file(
        self, path: str, cache: dict[str, tuple[_Key, list[Metric] | TextfileError]]
    ) -> tuple[list[Metric] | TextfileError, int]:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            key = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
            known = self._cache.get(path)
            if known is not None and known[0] == key:
                got = known[1]
            else:
                try:
                    got = parse(fh.read().decode("utf-8"), path)
                except UnicodeDecodeError as exc:
                    got = TextfileError(f"failed to parse textfile data from {path!r}: {exc}")
                except TextfileError as exc:
                    got = exc
        cache[path] = (key, got)
        return got, st.st_mtime_ns // 1_000_000_000

    def _report(self, problems: list[str]) -> None:
        # node_exporter logs every scrape; here each problem once, and when all are gone
        now = frozenset(problems)
        for problem in sorted(now - self._problems):
            log.error("textfile collector: %s", problem)
        if self._problems and not now:
            log.info("textfile collector: every file reads again")
        self._problems = now


def _merge(files: list[tuple[str, list[Metric]]], problems: list[str]) -> list[Metric]:
    """One family per name over all files, node_exporter's rules for help and type."""
    merged: dict[str, Metric] = {}
    sources: dict[str, list[str]] = {}
    for path, metrics in files:
        for metric in metrics:
            name = metric.name
            found = merged.get(name)
            if found is None:
                copy = Metric(name, metric.documentation, metric.type)
                copy.samples = list(metric.samples)
                merged[name] = copy
                sources[name] = [path]
                continue
            if metric.documentation and found.documentation != metric.documentation:
                problems.append(f"inconsistent metric help text of {name}: "
                                f"{found.documentation!r} in {sources[name][0]!r}, "
                                f"{metric.documentation!r} in {path!r}")  # fmt: skip
                continue
            if found.type != metric.type:
                problems.append(f"metric {name} has type {found.type} in {sources[name][0]!r} "
                                f"and {metric.type} in {path!r}")  # fmt: skip
                continue
            sources[name].append(path)
            found.samples.extend(metric.samples)
    for name, metric in merged.items():
        if not metric.documentation:
            metric.documentation = "Metric read from " + ", ".join(sources[name])
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        kept = []
        for s in metric.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                problems.append(
                    f"metric {s.name}{dict(s.labels)} was read before with the "
                    f"same name and label values ({', '.join(sources[name])})"
                )
                continue
            seen.add(key)
            kept.append(s)
        metric.samples = kept
    return list(merged.values())


def textfile_families(read: TextfileRead) -> list[Family]:
    """node_textfile_mtime_seconds of each file read and node_textfile_scrape_error."""
    mtime = Family(MTIME, "gauge", "Unixtime mtime of textfiles successfully read.",
                   [((("file", path),), value) for path, value in sorted(read.mtimes)])  # fmt: skip
    error = Family(SCRAPE_ERROR, "gauge",
                   "1 if there was an error opening or reading a file, 0 otherwise",
                   [(NO_LABELS, 1 if read.error else 0)])  # fmt: skip
    return [mtime, error]


def without_clashes(
    metrics: Iterable[Metric], own: dict[str, Family], clashes: list[str]
) -> list[Metric]:
    """The textfile families that do not clash with the exporter's own.

    node_exporter's registry refuses (logs, leaves out) a sample whose name the exporter
    already serves with another help or type, or with the same label values; one of the same
    help, type and new labels joins the family. Here the exporter's own sample always wins.
    `own` maps sample names to the exporter's families; a joining sample is appended to it.
    """
    out = []
    for metric in metrics:
        names = sample_names(metric)
        hit = [own[n] for n in names if n in own]
        if not hit:
            out.append(metric)
            continue
        fam = hit[0]
        if len(hit) > 1 or fam.kind != metric.type or fam.help != metric.documentation:
            clashes.append(f"{metric.name}: the exporter serves it itself (help {fam.help!r}, "
                           f"type {fam.kind})")  # fmt: skip
            continue
        have = {labels for labels, _ in fam.samples}
        for s in metric.samples:
            labels = tuple(sorted(s.labels.items()))
            if labels in have:
                clashes.append(f"{s.name}{dict(s.labels)}: the exporter serves these labels")
                continue
            have.add(labels)
            fam.samples.append((labels, s.value))
    return out
