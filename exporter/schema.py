"""The metric contract shared by the exporter, rules/, grafana/ and the bot.

Host metrics carry node_exporter's names, labels and units so that community dashboards and
rules work unchanged; the exporter's own health lives under the `homelab_exporter_` namespace.
This module holds names and label sets only: it imports nothing, so any layer may use it.
"""

from __future__ import annotations

from typing import Final

# -- node_exporter-compatible host metrics ----------------------------------------------------
CPU_SECONDS: Final = "node_cpu_seconds_total"  # {cpu, mode}
LOAD1: Final = "node_load1"
LOAD5: Final = "node_load5"
LOAD15: Final = "node_load15"
MEMORY_PREFIX: Final = "node_memory_"  # node_memory_<MemInfoKey>_bytes
MEM_TOTAL: Final = "node_memory_MemTotal_bytes"
MEM_AVAILABLE: Final = "node_memory_MemAvailable_bytes"
SWAP_TOTAL: Final = "node_memory_SwapTotal_bytes"
SWAP_FREE: Final = "node_memory_SwapFree_bytes"
FS_SIZE: Final = "node_filesystem_size_bytes"  # {device, fstype, mountpoint}
FS_FREE: Final = "node_filesystem_free_bytes"
FS_AVAIL: Final = "node_filesystem_avail_bytes"
FS_FILES: Final = "node_filesystem_files"
FS_FILES_FREE: Final = "node_filesystem_files_free"
FS_READONLY: Final = "node_filesystem_readonly"
FS_DEVICE_ERROR: Final = "node_filesystem_device_error"
BOOT_TIME: Final = "node_boot_time_seconds"
TIME: Final = "node_time_seconds"
UNAME_INFO: Final = "node_uname_info"
HWMON_TEMP: Final = "node_hwmon_temp_celsius"  # {chip, sensor}
NETWORK_RECEIVE_ERRS: Final = "node_network_receive_errs_total"
NETWORK_TRANSMIT_ERRS: Final = "node_network_transmit_errs_total"

# -- the exporter's own health ----------------------------------------------------------------
NAMESPACE: Final = "homelab_exporter"
BUILD_INFO: Final = "homelab_exporter_build_info"  # {version, python_version}
COLLECTOR_DURATION: Final = "homelab_exporter_collector_duration_seconds"  # {collector}
COLLECTOR_SUCCESS: Final = "homelab_exporter_collector_success"  # {collector}
CACHE_AGE: Final = "homelab_exporter_cache_age_seconds"  # {collector}
INFLUX_POINTS_WRITTEN: Final = "homelab_exporter_influx_points_written_total"
INFLUX_POINTS_SPOOLED: Final = "homelab_exporter_influx_points_spooled"  # gauge: waiting on disk
INFLUX_POINTS_DROPPED: Final = "homelab_exporter_influx_points_dropped_total"
INFLUX_WRITE_ERRORS: Final = "homelab_exporter_influx_write_errors_total"
INFLUX_SPOOL_BYTES: Final = "homelab_exporter_influx_spool_bytes"
INFLUX_SPOOL_LIMIT_BYTES: Final = "homelab_exporter_influx_spool_limit_bytes"
INFLUX_LAST_SUCCESS: Final = "homelab_exporter_influx_last_success_timestamp_seconds"

# -- thresholds as data (published by the bot, read by the alert rules) --------------------
ALERT_THRESHOLD: Final = "homelab_alert_threshold"  # {alertname, instance}; instance="" = fleet

# -- recording rules (rules/recording.yml) ---------------------------------------------------
CPU_BUSY_RATIO: Final = "instance:node_cpu_busy:ratio"
MEMORY_USED_RATIO: Final = "instance:node_memory_used:ratio"
ROOTFS_USED_RATIO: Final = "instance:node_filesystem_root_used:ratio"
