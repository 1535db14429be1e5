"""The PromQL of a report: availability over the period, and the disks' linear trend.

Usage statistics (CPU, memory, disk p95 and max) come from the named charts' range data
instead (`bot.domain.charts.CHARTS`), so they follow the charts' routing to InfluxDB for
periods older than Prometheus keeps.

Example::

    availability_query(86400)   # 'avg_over_time(up[86400s])'
"""

from __future__ import annotations

import logging

from exporter import schema

log = logging.getLogger(__name__)

# Real file systems, as /status, the disk chart and the recording rules select them.
REAL_FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|iso9660|overlay", device!~"rootfs"'
DAY = 86400


def _window(seconds: float) -> str:
    return f"{max(60, int(seconds))}s"


def availability_query(seconds: float) -> str:
    """Each target's share of successful scrapes over the last `seconds`."""
    return f"avg_over_time(up[{_window(seconds)}])"


def disk_avail_query() -> str:
    """Each real file system's free bytes now."""
    return f"{schema.FS_AVAIL}{{{REAL_FS}}}"


def disk_trend_query(seconds: float) -> str:
    """Bytes per day each real file system's free space changes by, by `predict_linear`
    over the last `seconds` (a least-squares line; negative: filling up)."""
    sel = f"{schema.FS_AVAIL}{{{REAL_FS}}}[{_window(seconds)}]"
    return f"predict_linear({sel}, {DAY}) - predict_linear({sel}, 0)"
