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
UNAME_INFO: Final = "node_uname_info"  # node_exporter's labels, plus HOST_LABEL from ours
# The host's name as people call it: the exporter's `hostname` setting, on node_uname_info (and
# as InfluxDB's INFLUX_HOST_TAG); or a target label of the same name set in Prometheus' scrape
# config, which then wins (Prometheus renames the exporter's to `exported_host`).
HOST_LABEL: Final = "host"
HWMON_TEMP: Final = "node_hwmon_temp_celsius"  # {chip, sensor}
NETWORK_RECEIVE_ERRS: Final = "node_network_receive_errs_total"
NETWORK_TRANSMIT_ERRS: Final = "node_network_transmit_errs_total"
CPU_GUEST_SECONDS: Final = "node_cpu_guest_seconds_total"  # {cpu, mode}
MEM_FREE: Final = "node_memory_MemFree_bytes"
MEM_BUFFERS: Final = "node_memory_Buffers_bytes"
MEM_CACHED: Final = "node_memory_Cached_bytes"
MEM_SRECLAIMABLE: Final = "node_memory_SReclaimable_bytes"
DISK_PREFIX: Final = "node_disk_"  # {device}
DISK_READS: Final = "node_disk_reads_completed_total"
DISK_WRITES: Final = "node_disk_writes_completed_total"
DISK_READS_MERGED: Final = "node_disk_reads_merged_total"
DISK_WRITES_MERGED: Final = "node_disk_writes_merged_total"
DISK_READ_BYTES: Final = "node_disk_read_bytes_total"
DISK_WRITTEN_BYTES: Final = "node_disk_written_bytes_total"
DISK_READ_TIME: Final = "node_disk_read_time_seconds_total"
DISK_WRITE_TIME: Final = "node_disk_write_time_seconds_total"
DISK_IO_TIME: Final = "node_disk_io_time_seconds_total"
DISK_IO_TIME_WEIGHTED: Final = "node_disk_io_time_weighted_seconds_total"
DISK_IO_NOW: Final = "node_disk_io_now"
NETWORK_PREFIX: Final = "node_network_"  # {device}
NETWORK_RECEIVE_BYTES: Final = "node_network_receive_bytes_total"
NETWORK_TRANSMIT_BYTES: Final = "node_network_transmit_bytes_total"
NETWORK_RECEIVE_PACKETS: Final = "node_network_receive_packets_total"
NETWORK_TRANSMIT_PACKETS: Final = "node_network_transmit_packets_total"
NETWORK_RECEIVE_DROP: Final = "node_network_receive_drop_total"
NETWORK_TRANSMIT_DROP: Final = "node_network_transmit_drop_total"
NETWORK_UP: Final = "node_network_up"
OS_INFO: Final = "node_os_info"  # {id, name, pretty_name, version, version_id, ...}
HWMON_CHIP_NAMES: Final = "node_hwmon_chip_names"  # {chip, chip_name}
HWMON_SENSOR_LABEL: Final = "node_hwmon_sensor_label"  # {chip, sensor, label}
PRESSURE_CPU_WAITING: Final = "node_pressure_cpu_waiting_seconds_total"
PRESSURE_CPU_STALLED: Final = "node_pressure_cpu_stalled_seconds_total"  # newer than 1.5
PRESSURE_IO_WAITING: Final = "node_pressure_io_waiting_seconds_total"
PRESSURE_IO_STALLED: Final = "node_pressure_io_stalled_seconds_total"
PRESSURE_MEMORY_WAITING: Final = "node_pressure_memory_waiting_seconds_total"
PRESSURE_MEMORY_STALLED: Final = "node_pressure_memory_stalled_seconds_total"
PRESSURE_IRQ_STALLED: Final = "node_pressure_irq_stalled_seconds_total"
PROCS_RUNNING: Final = "node_procs_running"
PROCS_BLOCKED: Final = "node_procs_blocked"
CONTEXT_SWITCHES: Final = "node_context_switches_total"
FORKS: Final = "node_forks_total"
INTR: Final = "node_intr_total"

# node_exporter's default exclusions (collector.filesystem / collector.diskstats flags, 1.5+)
FS_MOUNT_POINTS_EXCLUDE: Final = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
FS_TYPES_EXCLUDE: Final = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|sysfs|tracefs)$"
)
# diskstats: node_exporter's current default, which also leaves out zram (1.5 had `ram` only)
DISK_DEVICE_EXCLUDE: Final = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
NETWORK_DEVICE_EXCLUDE: Final = ""  # upstream excludes nothing; Debian's package excludes ^lo$

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
SCRAPES: Final = "homelab_exporter_scrapes_total"  # collections actually run (shared by scrapes)

# -- Telegraf's InfluxDB schema (measurements and tags written by the exporter) -------------
INFLUX_HOST_TAG: Final = "host"
INFLUX_CPU: Final = "cpu"  # tag cpu=cpu-total|cpuN; usage_* percent
INFLUX_MEM: Final = "mem"
INFLUX_SWAP: Final = "swap"
INFLUX_DISK: Final = "disk"  # tags path, device, fstype, mode
INFLUX_DISKIO: Final = "diskio"  # tag name
INFLUX_NET: Final = "net"  # tag interface
INFLUX_SYSTEM: Final = "system"
INFLUX_TEMP: Final = "temp"  # tag sensor; field temp (celsius)
INFLUX_KERNEL: Final = "kernel"  # Telegraf inputs.kernel (default config)
INFLUX_PROCESSES: Final = "processes"  # Telegraf inputs.processes (default config)

# -- thresholds as data (published by the bot, read by the alert rules) --------------------
ALERT_THRESHOLD: Final = "homelab_alert_threshold"  # {alertname, instance}; no instance = fleet

# -- recording rules (rules/recording.yml) ---------------------------------------------------
CPU_BUSY_RATIO: Final = "instance:node_cpu_busy:ratio"
MEMORY_USED_RATIO: Final = "instance:node_memory_used:ratio"
ROOTFS_USED_RATIO: Final = "instance:node_filesystem_root_used:ratio"
CPU_COUNT: Final = "instance:node_num_cpu:count"
LOAD1_PER_CPU_RATIO: Final = "instance:node_load1_per_cpu:ratio"
LOAD5_PER_CPU_RATIO: Final = "instance:node_load5_per_cpu:ratio"
LOAD15_PER_CPU_RATIO: Final = "instance:node_load15_per_cpu:ratio"
SWAP_USED_RATIO: Final = "instance:node_memory_swap_used:ratio"  # hosts with swap only
FS_USED_RATIO: Final = "instance_mountpoint:node_filesystem_used:ratio"  # {device, mountpoint}
FS_FILES_USED_RATIO: Final = "instance_mountpoint:node_filesystem_files_used:ratio"
NETWORK_ERRS_RATE: Final = "instance_device:node_network_errs:rate5m"  # {device}; rx + tx errors/s
NETWORK_RECEIVE_RATE: Final = "instance:node_network_receive_bytes_excluding_lo:rate5m"
NETWORK_TRANSMIT_RATE: Final = "instance:node_network_transmit_bytes_excluding_lo:rate5m"
TIME_OFFSET: Final = "instance:node_time_offset:seconds"  # host clock minus scrape time
UPTIME: Final = "instance:node_uptime:seconds"

# node_exporter's --collector.vmstat.fields and --collector.netstat.fields defaults
VMSTAT_FIELDS: Final = r"^(oom_kill|pgpg|pswp|pg.*fault).*"
NETSTAT_FIELDS: Final = (
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)
