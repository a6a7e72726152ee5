"""Telegraf-shaped line protocol for every madash feature, for testing the dashboards against a real InfluxDB.

Telegraf itself is not in Debian, so this module writes what it would: measurement, tag and field names and field
types as the plugins' documentation and code give them (inputs cpu, mem, swap, system, kernel, processes, disk,
diskio, net, netstat, smart, sensors, nvidia_smi, docker, apcupsd, ping, http_response, dns_query), with the options
madash's templates set (cpu ``report_active = true``, net ``ignore_protocol_stats = true``, smart
``attributes = true``, ping ``method = "native"``, http_response ``response_string_match`` from ``http_match``).

Only fields that every supported Telegraf version (1.28 to current) sends are written, so a dashboard can never come
to depend on a field an older agent lacks: no disk ``inodes_used_percent`` (1.28.4+), diskio ``io_await``/``io_util``
(1.33+), net ``speed`` (1.30+), nvidia_smi ``power_limit`` (1.31+) or the NVMe fields of ``smart_device`` (1.33+).
Unsigned integers are written as integers, as the influxdb output does without ``influx_uint_support``.

Where Telegraf versions disagree on shape, both shapes are present: one docker host has the per-device network and
block-I/O series of Telegraf 1.28-1.34 (``network=eth0``, ``device=8:0``), the other the totals of 1.35+
(``network=total``, ``device=total``).

The data set: two monitored hosts and the server's probe, two hours, one gather every 10 s, ending at ``end_s``.
Values are smooth functions of time (no randomness), with a few incidents so that failure panels have something to
show: packet loss and an HTTP timeout, a DNS timeout, a UPS on battery, and a SMART attribute that grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "BAKED",
    "BAKED_RP",
    "DURATION_S",
    "FEATURE_PLUGINS",
    "HOSTS",
    "INTERVAL_S",
    "PROBE",
    "Dataset",
    "MeasurementSchema",
    "Source",
    "generate",
]

INTERVAL_S = 10
DURATION_S = 2 * 3600
STEPS = DURATION_S // INTERVAL_S

# What each madash feature makes Telegraf run (conf/telegraf/client.conf.j2 and conf/telegraf/inputs/*.conf.j2);
# tests/test_dashboards.py checks this against the templates.
FEATURE_PLUGINS: dict[str, tuple[str, ...]] = {
    "base": ("cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat", "internal"),
    "smart": ("smart",),
    "sensors": ("sensors",),
    "nvidia": ("nvidia_smi",),
    "docker": ("docker",),
    "ups": ("apcupsd",),
    "internet": ("ping", "http_response", "dns_query"),
    "vm": (),
}

FieldValue = bool | int | float | str


@dataclass(frozen=True)
class Source:
    """One Telegraf agent: a monitored host (base inputs plus its features) or the server's probe."""

    host: str
    features: tuple[str, ...]
    base: bool = True
    # Telegraf 1.28-1.34's docker defaults (per device) or 1.35+'s (totals).
    docker_per_device: bool = False
    seed: int = 0
    # The packages it runs (its madash_package tag): each version from that step of the data set on.
    versions: tuple[tuple[str, int], ...] = ()


OLD, NEW = "20261120.090000", "20261201.120000"
HOSTS = (
    Source("ws.example.org", ("smart", "sensors", "nvidia", "docker", "ups", "internet"), seed=1, versions=((OLD, 0),)),
    Source("db-01", ("smart", "docker", "vm"), docker_per_device=True, seed=2, versions=((OLD, 0), (NEW, STEPS // 2))),
)
# The newest package the server has baked for each host (madash_baked, which ensure-influxdb writes into the
# madash_forever retention policy): db-01 runs it since its upgrade half-way, ws.example.org has one waiting,
# old-laptop was baked and never reported.
BAKED = {"ws.example.org": NEW, "db-01": NEW, "old-laptop": "20261115.080000"}
BAKED_RP = "madash_forever"
# The server's connectivity probe (conf/telegraf/probe.conf.j2): the internet inputs only, host "madash-probe".
PROBE = Source("madash-probe", ("internet",), base=False, seed=3)

PING_TARGETS = ("1.1.1.1", "8.8.8.8", "9.9.9.9")
HTTP_TARGETS = ("https://www.debian.org/", "https://www.debian.org/no-such-page")
DNS_SERVERS = ("1.1.1.1", "8.8.8.8")
DNS_DOMAINS = ("debian.org",)


@dataclass
class MeasurementSchema:
    """What the data set holds for one measurement: which plugin wrote it, its tag keys and field types."""

    plugin: str
    tags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    lines: list[str] = field(default_factory=list)
    schema: dict[str, MeasurementSchema] = field(default_factory=dict)
    # feature -> measurements written for it
    features: dict[str, set[str]] = field(default_factory=dict)
    start_s: int = 0
    end_s: int = 0
    # Lines for the BAKED_RP retention policy (madash_baked), written apart from the Telegraf data.
    baked: list[str] = field(default_factory=list)

    def chunks(self, size: int = 5000) -> Iterator[str]:
        for i in range(0, len(self.lines), size):
            yield "\n".join(self.lines[i : i + size]) + "\n"


def _type_name(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def _escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Writer:
    def __init__(self, dataset: Dataset, source: Source, feature: str, plugin: str) -> None:
        self.dataset = dataset
        self.source = source
        self.feature = feature
        self.plugin = plugin

    def add(self, measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time_s: int) -> None:
        all_tags = {**tags, "host": self.source.host}
        step = (time_s - self.dataset.start_s) // INTERVAL_S
        running = [version for version, since in self.source.versions if since <= step]
        if running:
            # Every client's global tag (conf/telegraf/client.conf.j2); the server's probe has none.
            all_tags["madash_package"] = f"madash-client-{self.source.host}={running[-1]}"
        schema = self.dataset.schema.setdefault(measurement, MeasurementSchema(self.plugin))
        assert schema.plugin == self.plugin, f"{measurement} written by {schema.plugin} and {self.plugin}"
        schema.tags.update(all_tags)
        for name, value in fields.items():
            kind = _type_name(value)
            # InfluxDB refuses a field whose type changes within a shard, and so would it from Telegraf.
            assert schema.fields.setdefault(name, kind) == kind, f"{measurement}.{name} is {kind} and {schema.fields}"
        self.dataset.features.setdefault(self.feature, set()).add(measurement)
        tag_text = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(all_tags.items()) if v != "")
        field_text = ",".join(f"{_escape_key(k)}={_field(v)}" for k, v in fields.items())
        self.dataset.lines.append(f"{_escape_key(measurement)}{tag_text} {field_text} {time_s * 1_000_000_000}")


def _wave(step: int, period: float, phase: float = 0.0) -> float:
    """A smooth value in [0, 1]."""
    return 0.5 + 0.5 * math.sin(2 * math.pi * step / period + phase)


# --- base inputs ------------------------------------------------------------------------------------------------


def _cpu(w: _Writer, step: int, t: int) -> None:
    for index, name in enumerate(("cpu0", "cpu1", "cpu-total")):
        user = round(5 + 30 * _wave(step, 90, w.source.seed + index), 3)
        system = round(2 + 4 * _wave(step, 40, index), 3)
        iowait = round(0.5 + 3 * _wave(step, 200, w.source.seed), 3)
        steal = 0.0
        idle = round(100.0 - user - system - iowait - 0.3 - steal, 3)
        w.add(
            "cpu",
            {"cpu": name},
            {
                "usage_user": user,
                "usage_system": system,
                "usage_idle": idle,
                "usage_active": round(100.0 - idle, 3),
                "usage_nice": 0.0,
                "usage_iowait": iowait,
                "usage_irq": 0.1,
                "usage_softirq": 0.2,
                "usage_steal": steal,
                "usage_guest": 0.0,
                "usage_guest_nice": 0.0,
            },
            t,
        )


GIB = 1024**3


def _mem(w: _Writer, step: int, t: int) -> None:
    total = (16 if w.source.seed == 1 else 32) * GIB
    used = int(total * (0.35 + 0.3 * _wave(step, 300, w.source.seed)))
    cached = int(total * 0.2)
    buffered = int(total * 0.02)
    free = total - used - cached - buffered
    available = free + cached + buffered
    w.add(
        "mem",
        {},
        {
            "active": int(used * 0.8),
            "available": available,
            "available_percent": 100.0 * available / total,
            "buffered": buffered,
            "cached": cached,
            "commit_limit": total,
            "committed_as": int(used * 1.4),
            "dirty": 1_048_576,
            "free": free,
            "high_free": 0,
            "high_total": 0,
            "huge_pages_free": 0,
            "huge_page_size": 2_097_152,
            "huge_pages_total": 0,
            "inactive": int(cached * 0.6),
            "low_free": 0,
            "low_total": 0,
            "mapped": 512 * 1024 * 1024,
            "page_tables": 64 * 1024 * 1024,
            "shared": 256 * 1024 * 1024,
            "slab": 400 * 1024 * 1024,
            "sreclaimable": 300 * 1024 * 1024,
            "sunreclaim": 100 * 1024 * 1024,
            "swap_cached": 0,
            "swap_free": 3 * GIB,
            "swap_total": 4 * GIB,
            "total": total,
            "used": used,
            "used_percent": 100.0 * used / total,
            "vmalloc_chunk": 0,
            "vmalloc_total": 35_184_372_087_808,
            "vmalloc_used": 80 * 1024 * 1024,
            "write_back": 0,
            "write_back_tmp": 0,
        },
        t,
    )


def _swap(w: _Writer, step: int, t: int) -> None:
    swap_used = int(GIB * (0.5 + 0.5 * _wave(step, 500)))
    w.add(
        "swap",
        {},
        {
            "total": 4 * GIB,
            "used": swap_used,
            "free": 4 * GIB - swap_used,
            "used_percent": 100.0 * swap_used / (4 * GIB),
            "in": 1000 + step * 3,
            "out": 4000 + step * 5,
        },
        t,
    )


def _system(w: _Writer, step: int, t: int) -> None:
    uptime = 86_400 * 12 + step * INTERVAL_S
    days, rest = divmod(uptime, 86_400)
    w.add(
        "system",
        {},
        {
            "load1": round(0.2 + 3 * _wave(step, 60, w.source.seed), 2),
            "load5": round(0.3 + 2 * _wave(step, 120, w.source.seed), 2),
            "load15": round(0.4 + 1.5 * _wave(step, 240, w.source.seed), 2),
            "n_cpus": 2,
            "n_users": 1,
            "uptime": uptime,
            "uptime_format": f"{days} days, {rest // 3600:2d}:{rest % 3600 // 60:02d}",
        },
        t,
    )


def _kernel(w: _Writer, step: int, t: int) -> None:
    uptime = 86_400 * 12 + step * INTERVAL_S
    w.add(
        "kernel",
        {},
        {
            "boot_time": t - uptime,
            "context_switches": 5_000_000 + step * 12_000,
            "disk_pages_in": 800_000 + step * 40,
            "disk_pages_out": 2_000_000 + step * 90,
            "entropy_avail": 256,
            "interrupts": 9_000_000 + step * 20_000,
            "processes_forked": 300_000 + step * 30,
        },
        t,
    )


def _processes(w: _Writer, step: int, t: int) -> None:
    running = 1 + step % 3
    sleeping = 280 + int(20 * _wave(step, 100))
    w.add(
        "processes",
        {},
        {
            "blocked": step % 2,
            "dead": 0,
            "idle": 60,
            "paging": 0,
            "parked": 0,
            "running": running,
            "sleeping": sleeping,
            "stopped": 0,
            "total": running + sleeping + 60 + step % 2 + 1,
            "total_threads": 900 + int(40 * _wave(step, 100)),
            "zombie": 1,
        },
        t,
    )


def _disk(w: _Writer, step: int, t: int) -> None:
    if w.source.seed == 1:
        mounts = [
            ("/", "nvme0n1p2", "ext4", 500 * GIB, 0.42),
            ("/boot/efi", "nvme0n1p1", "vfat", GIB // 2, 0.03),
            ("/srv", "sda1", "ext4", 4000 * GIB, 0.91),
        ]
    else:
        mounts = [("/", "sda2", "ext4", 900 * GIB, 0.55), ("/var/lib/postgresql", "sdb1", "xfs", 2000 * GIB, 0.72)]
    for path, device, fstype, total, fraction in mounts:
        used = int(total * (fraction + 0.0001 * step / STEPS))
        inodes_total = max(total // 16384, 32768)
        inodes_used = int(inodes_total * fraction / 3)
        w.add(
            "disk",
            {"path": path, "device": device, "fstype": fstype, "mode": "rw"},
            {
                "total": total,
                "free": total - used,
                "used": used,
                "used_percent": 100.0 * used / total,
                "inodes_total": inodes_total,
                "inodes_free": inodes_total - inodes_used,
                "inodes_used": inodes_used,
            },
            t,
        )


def _diskio(w: _Writer, step: int, t: int) -> None:
    names = ("nvme0n1", "sda") if w.source.seed == 1 else ("sda", "sdb")
    for index, name in enumerate(names):
        rate = 1 + index
        w.add(
            "diskio",
            {"name": name, "serial": f"SN{w.source.seed}{index:04d}"},
            {
                "reads": 100_000 + step * 20 * rate,
                "writes": 200_000 + step * 35 * rate,
                "read_bytes": 10 * GIB + step * 2_000_000 * rate,
                "write_bytes": 30 * GIB + step * 5_000_000 * rate,
                "read_time": 50_000 + step * 30,
                "write_time": 90_000 + step * 60,
                "io_time": 70_000 + step * (300 + 200 * index),
                "weighted_io_time": 150_000 + step * 100,
                "iops_in_progress": step % 3,
                "merged_reads": 3000 + step,
                "merged_writes": 9000 + step * 4,
            },
            t,
        )


def _net(w: _Writer, step: int, t: int) -> None:
    interfaces = ("eth0", "wlan0") if w.source.seed == 1 else ("eno1", "docker0")
    for index, name in enumerate(interfaces):
        speed = 1 + 3 * _wave(step, 120, index)
        w.add(
            "net",
            {"interface": name},
            {
                "bytes_sent": 5 * GIB + int(step * 400_000 * speed),
                "bytes_recv": 20 * GIB + int(step * 1_200_000 * speed),
                "packets_sent": 4_000_000 + step * 300,
                "packets_recv": 9_000_000 + step * 900,
                "err_in": step // 180,
                "err_out": 0,
                "drop_in": 10 + step // 60,
                "drop_out": 0,
            },
            t,
        )


def _netstat(w: _Writer, step: int, t: int) -> None:
    w.add(
        "netstat",
        {},
        {
            "tcp_close": 0,
            "tcp_close_wait": 1,
            "tcp_closing": 0,
            "tcp_established": 40 + int(20 * _wave(step, 80)),
            "tcp_fin_wait1": 0,
            "tcp_fin_wait2": 2,
            "tcp_last_ack": 0,
            "tcp_listen": 12,
            "tcp_none": 30,
            "tcp_syn_recv": 0,
            "tcp_syn_sent": step % 2,
            "tcp_time_wait": 15 + int(10 * _wave(step, 50)),
            "udp_socket": 9,
        },
        t,
    )


# --- smart ------------------------------------------------------------------------------------------------------

# (id, name, flags, value, worst, threshold, raw) as smartctl --format=brief prints them.
ATA_HDD = (
    ("1", "Raw_Read_Error_Rate", "POSR--", 117, 99, 6, 150_000_000),
    ("3", "Spin_Up_Time", "PO----", 91, 91, 0, 0),
    ("4", "Start_Stop_Count", "-O--CK", 100, 100, 20, 120),
    ("5", "Reallocated_Sector_Ct", "PO--CK", 100, 100, 10, 0),
    ("7", "Seek_Error_Rate", "POSR--", 88, 60, 45, 600_000_000),
    ("9", "Power_On_Hours", "-O--CK", 72, 72, 0, 24_500),
    ("10", "Spin_Retry_Count", "PO--C-", 100, 100, 97, 0),
    ("12", "Power_Cycle_Count", "-O--CK", 100, 100, 20, 118),
    ("187", "Reported_Uncorrect", "-O--CK", 100, 100, 0, 0),
    ("188", "Command_Timeout", "-O--CK", 100, 100, 0, 0),
    ("190", "Airflow_Temperature_Cel", "-O---K", 64, 55, 40, 36),
    ("194", "Temperature_Celsius", "-O---K", 36, 45, 0, 36),
    ("197", "Current_Pending_Sector", "-O--C-", 100, 100, 0, 0),
    ("198", "Offline_Uncorrectable", "----C-", 100, 100, 0, 0),
    ("199", "UDMA_CRC_Error_Count", "-OSRCK", 200, 200, 0, 0),
)
ATA_SSD = (
    ("5", "Reallocated_Sector_Ct", "PO--CK", 100, 100, 10, 0),
    ("9", "Power_On_Hours", "-O--CK", 95, 95, 0, 19_000),
    ("12", "Power_Cycle_Count", "-O--CK", 99, 99, 0, 60),
    ("177", "Wear_Leveling_Count", "PO--C-", 97, 97, 0, 30),
    ("179", "Used_Rsvd_Blk_Cnt_Tot", "PO--C-", 100, 100, 10, 0),
    ("181", "Program_Fail_Cnt_Total", "-O--CK", 100, 100, 10, 0),
    ("182", "Erase_Fail_Count_Total", "-O--CK", 100, 100, 10, 0),
    ("183", "Runtime_Bad_Block", "PO--C-", 100, 100, 10, 0),
    ("187", "Uncorrectable_Error_Cnt", "-O--CK", 100, 100, 0, 0),
    ("190", "Airflow_Temperature_Cel", "-O--CK", 70, 55, 0, 30),
    ("195", "ECC_Error_Rate", "-O-RC-", 200, 200, 0, 0),
    ("199", "CRC_Error_Count", "-OSRCK", 100, 100, 0, 0),
    ("235", "POR_Recovery_Count", "-O--C-", 99, 99, 0, 25),
    ("241", "Total_LBAs_Written", "-O--CK", 99, 99, 0, 40_000_000_000),
)
# smartctl's NVMe "Key: value" lines, as the smart plugin names them (name, id or "").
NVME = (
    ("Critical_Warning", "", 0),
    ("Temperature_Celsius", "194", 41),
    ("Available_Spare", "", 100),
    ("Available_Spare_Threshold", "", 10),
    ("Percentage_Used", "", 3),
    ("Data_Units_Read", "", 30_000_000),
    ("Data_Units_Written", "", 45_000_000),
    ("Host_Read_Commands", "", 400_000_000),
    ("Host_Write_Commands", "", 900_000_000),
    ("Controller_Busy_Time", "", 2_000),
    ("Power_Cycle_Count", "12", 300),
    ("Power_On_Hours", "9", 8_000),
    ("Unsafe_Shutdowns", "", 20),
    ("Media_and_Data_Integrity_Errors", "", 0),
    ("Error_Information_Log_Entries", "", 5),
)
# The smart plugin's deviceFieldIDs and deviceFieldNames: attributes copied into smart_device.
DEVICE_FIELD_IDS = {
    "1": "read_error_rate",
    "5": "reallocated_sectors_count",
    "7": "seek_error_rate",
    "9": "power_on_hours",
    "12": "power_cycle_count",
    "10": "spin_retry_count",
    "184": "end_to_end_error",
    "187": "uncorrectable_errors",
    "188": "command_timeout",
    "190": "temp_c",
    "194": "temp_c",
    "196": "realloc_event_count",
    "197": "pending_sector_count",
    "198": "uncorrectable_sector_count",
    "199": "udma_crc_errors",
    "201": "soft_read_error_rate",
}
DEVICE_FIELD_NAMES = {"Wear_Leveling_Count": "wear_leveling_count"}


@dataclass(frozen=True)
class _Drive:
    device: str
    model: str
    serial: str
    attributes: tuple[tuple[str, str, str, int, int, int, int], ...] = ()
    nvme: bool = False
    capacity: str = ""
    wwn: str = ""


def _drives(source: Source) -> tuple[_Drive, ...]:
    if source.seed == 1:
        return (
            _Drive("sda", "ST4000VN008-2DR166", "ZDH1ABCD", ATA_HDD, capacity="4000787030016", wwn="5000c500c1234567"),
            _Drive("nvme0", "Samsung SSD 980 PRO 1TB", "S5GXNF0R123456", nvme=True),
        )
    return (
        _Drive("sda", "Samsung SSD 870 EVO 1TB", "S6PUNX0T987654", ATA_SSD, capacity="1000204886016", wwn="5002538f4"),
    )


def _smart(w: _Writer, step: int, t: int) -> None:
    for drive in _drives(w.source):
        tags = {"device": drive.device, "model": drive.model, "serial_no": drive.serial}
        if not drive.nvme:
            tags |= {"wwn": drive.wwn, "capacity": drive.capacity, "enabled": "Enabled", "power": "ACTIVE"}
        temperature = 34 + int(8 * _wave(step, 360, w.source.seed))
        device_fields: dict[str, FieldValue] = {}
        for attribute in drive.attributes:
            ident, name, flags, value, worst, threshold, raw = attribute
            if name in ("Temperature_Celsius", "Airflow_Temperature_Cel"):
                raw = temperature
                value = 100 - temperature if name.startswith("Airflow") else temperature
            elif name == "Power_On_Hours":
                raw += step * INTERVAL_S // 3600
            elif name == "Reallocated_Sector_Ct" and w.source.seed == 1:
                # A disk that starts to fail: the incident the "changed attributes" table is for.
                raw = step // 90
                value = 100 - raw // 4
            elif name == "Total_LBAs_Written":
                raw += step * 9_000
            w.add(
                "smart_attribute",
                tags | {"id": ident, "name": name, "flags": flags, "fail": "-"},
                {
                    "exit_status": 0,
                    "value": value,
                    "worst": min(worst, value),
                    "threshold": threshold,
                    "raw_value": raw,
                },
                t,
            )
            if ident in DEVICE_FIELD_IDS:
                device_fields[DEVICE_FIELD_IDS[ident]] = raw
            if name in DEVICE_FIELD_NAMES:
                device_fields[DEVICE_FIELD_NAMES[name]] = value
        if drive.nvme:
            for name, ident, raw in NVME:
                if name == "Temperature_Celsius":
                    raw = temperature + 5
                    device_fields["temp_c"] = raw
                elif name.startswith(("Data_Units", "Host_")):
                    raw += step * 50
                w.add(
                    "smart_attribute", tags | ({"name": name} | ({"id": ident} if ident else {})), {"raw_value": raw}, t
                )
        w.add("smart_device", tags, {"health_ok": True, **device_fields, "exit_status": 0}, t)


# --- sensors, nvidia_smi ----------------------------------------------------------------------------------------


def _sensors(w: _Writer, step: int, t: int) -> None:
    base = 45 + 25 * _wave(step, 150, w.source.seed)
    for feature in ("package_id_0", "core_0", "core_1"):
        w.add(
            "sensors",
            {"chip": "coretemp-isa-0000", "feature": feature},
            {"temp_input": round(base, 1), "temp_max": 80.0, "temp_crit": 100.0, "temp_crit_alarm": 0.0},
            t,
        )
    w.add(
        "sensors",
        {"chip": "nvme-pci-0100", "feature": "composite"},
        {"temp_input": round(base - 5, 1), "temp_max": 81.8, "temp_min": -273.1, "temp_crit": 84.8, "temp_alarm": 0.0},
        t,
    )
    w.add(
        "sensors",
        {"chip": "nct6775-isa-0290", "feature": "fan2"},
        {"fan_input": round(800 + 600 * _wave(step, 150), 0), "fan_min": 0.0, "fan_alarm": 0.0, "fan_beep": 0.0},
        t,
    )
    w.add(
        "sensors",
        {"chip": "nct6775-isa-0290", "feature": "in0"},
        {"in_input": 1.02, "in_min": 0.0, "in_max": 1.74, "in_alarm": 0.0, "in_beep": 0.0},
        t,
    )


def _nvidia_smi(w: _Writer, step: int, t: int) -> None:
    load = _wave(step, 45, w.source.seed)
    used = 2000 + int(6000 * load)
    w.add(
        "nvidia_smi",
        {
            "index": "0",
            "name": "NVIDIA GeForce RTX 3060",
            "uuid": "GPU-5a1b2c3d-0000-1111-2222-333344445555",
            "pstate": "P2" if load > 0.2 else "P8",
            "compute_mode": "Default",
        },
        {
            "fan_speed": 30 + int(40 * load),
            "memory_free": 12288 - used,
            "memory_total": 12288,
            "memory_used": used,
            "temperature_gpu": 40 + int(35 * load),
            "utilization_gpu": int(100 * load),
            "utilization_memory": int(60 * load),
            "utilization_encoder": 0,
            "utilization_decoder": 0,
            "pcie_link_gen_current": 4,
            "pcie_link_width_current": 16,
            "power_draw": round(20 + 150 * load, 2),
            "clocks_current_graphics": 210 + int(1600 * load),
            "clocks_current_sm": 210 + int(1600 * load),
            "clocks_current_memory": 405 + int(7000 * load),
            "clocks_current_video": 555 + int(1000 * load),
            "encoder_stats_session_count": 0,
            "encoder_stats_average_fps": 0,
            "encoder_stats_average_latency": 0,
            "fbc_stats_session_count": 0,
            "fbc_stats_average_fps": 0,
            "fbc_stats_average_latency": 0,
            "driver_version": "535.183.01",
            "cuda_version": "12.2",
        },
        t,
    )


# --- docker -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Container:
    name: str
    image: str
    version: str
    health: bool


def _containers(source: Source) -> tuple[_Container, ...]:
    if source.seed == 1:
        return (
            _Container("jellyfin", "jellyfin/jellyfin", "10.9.7", False),
            _Container("homeassistant", "ghcr.io/home-assistant/home-assistant", "2024.6", True),
        )
    return (
        _Container("postgres", "postgres", "16", True),
        _Container("pgbouncer", "bitnami/pgbouncer", "1.22.1", False),
        _Container("backup", "restic/restic", "0.16.4", False),
    )


def _docker(w: _Writer, step: int, t: int) -> None:
    engine = {"engine_host": w.source.host, "server_version": "24.0.7"}
    containers = _containers(w.source)
    w.add(
        "docker",
        engine,
        {
            "n_used_file_descriptors": 40,
            "n_cpus": 2,
            "n_containers": len(containers),
            "n_containers_running": len(containers),
            "n_containers_stopped": 0,
            "n_containers_paused": 0,
            "n_images": 7,
            "n_goroutines": 60,
            "n_listener_events": 0,
        },
        t,
    )
    w.add("docker", engine | {"unit": "bytes"}, {"memory_total": 16 * GIB}, t)
    for index, container in enumerate(containers):
        container_id = f"{w.source.seed}{index}" + "ab" * 31
        tags = engine | {
            "container_name": container.name,
            "container_image": container.image,
            "container_version": container.version,
            "container_status": "running",
        }
        load = _wave(step, 70, index + w.source.seed)
        usage = int((200 + 300 * index + 150 * load) * 1024 * 1024)
        limit = 16 * GIB
        w.add(
            "docker_container_mem",
            tags,
            {
                "active_anon": usage // 2,
                "active_file": usage // 4,
                "anon": usage // 2,
                "file": usage // 3,
                "inactive_anon": 0,
                "inactive_file": usage // 8,
                "pgfault": 100_000 + step * 10,
                "pgmajfault": 30,
                "usage": usage,
                "usage_percent": 100.0 * usage / limit,
                "limit": limit,
                "container_id": container_id,
            },
            t,
        )
        total_ns = 10**12 * (index + 1) + step * int(2e9 * load + 1e8)
        w.add(
            "docker_container_cpu",
            tags | {"cpu": "cpu-total"},
            {
                "throttling_periods": 0,
                "throttling_throttled_periods": 0,
                "throttling_throttled_time": 0,
                "usage_in_kernelmode": total_ns // 4,
                "usage_in_usermode": total_ns // 4 * 3,
                "usage_system": 10**14 + step * 2 * 10**10,
                "usage_total": total_ns,
                "usage_percent": round(20 * load * (index + 1), 3),
                "container_id": container_id,
            },
            t,
        )
        for cpu in ("cpu0", "cpu1"):
            w.add(
                "docker_container_cpu",
                tags | {"cpu": cpu},
                {"usage_total": total_ns // 2, "container_id": container_id},
                t,
            )
        network = "eth0" if w.source.docker_per_device else "total"
        w.add(
            "docker_container_net",
            tags | {"network": network},
            {
                "rx_dropped": 0,
                "rx_bytes": 10**8 + step * 300_000 * (index + 1),
                "rx_errors": 0,
                "tx_packets": 50_000 + step * 90,
                "tx_dropped": 0,
                "rx_packets": 80_000 + step * 150,
                "tx_errors": 0,
                "tx_bytes": 5 * 10**7 + step * 100_000 * (index + 1),
                "container_id": container_id,
            },
            t,
        )
        device = "8:0" if w.source.docker_per_device else "total"
        read, write = 10**9 + step * 50_000 * index, 2 * 10**9 + step * 400_000 * (index + 1)
        w.add(
            "docker_container_blkio",
            tags | {"device": device},
            {
                "io_service_bytes_recursive_read": read,
                "io_service_bytes_recursive_write": write,
                "io_service_bytes_recursive_sync": write,
                "io_service_bytes_recursive_async": 0,
                "io_service_bytes_recursive_total": read + write,
                "io_serviced_recursive_read": read // 4096,
                "io_serviced_recursive_write": write // 4096,
                "io_serviced_recursive_sync": write // 4096,
                "io_serviced_recursive_async": 0,
                "io_serviced_recursive_total": (read + write) // 4096,
                "container_id": container_id,
            },
            t,
        )
        started = (w.dataset.start_s - 86_400 * (index + 1)) * 10**9
        w.add(
            "docker_container_status",
            tags,
            {
                "oomkilled": False,
                "pid": 1000 + index,
                "exitcode": 0,
                "started_at": started,
                "finished_at": 0,
                "restart_count": index + step // 360 * (index == 0),
                "uptime_ns": t * 10**9 - started,
                "container_id": container_id,
            },
            t,
        )
        if container.health:
            w.add(
                "docker_container_health",
                tags,
                {"health_status": "healthy" if step % 200 else "unhealthy", "failing_streak": 0 if step % 200 else 1},
                t,
            )


# --- apcupsd ----------------------------------------------------------------------------------------------------

ONLINE_FLAGS = 0x05000008
ONBATT_FLAGS = 0x05000010


def _apcupsd(w: _Writer, step: int, t: int) -> None:
    outage = 400 <= step < 430  # five minutes on battery
    since = max(0, step - 400)
    charge = 100.0 - since * 1.5 if outage else min(100.0, 55.0 + max(0, step - 430) * 0.5) if step >= 430 else 100.0
    load = round(18 + 10 * _wave(step, 100), 1)
    w.add(
        "apcupsd",
        {
            "serial": "3B1234X56789",
            "ups_name": "rack-ups",
            "model": "Back-UPS XS 950U",
            "status": "ONBATT" if outage else "ONLINE",
        },
        {
            "status_flags": ONBATT_FLAGS if outage else ONLINE_FLAGS,
            "input_voltage": 0.0 if outage else 231.0,
            "load_percent": load,
            "battery_charge_percent": charge,
            "time_left_ns": int(charge * 30 * 60 * 10**9 / 100),
            "output_voltage": 230.0,
            "internal_temp": 29.0,
            "battery_voltage": 13.5 if not outage else 12.4,
            "input_frequency": 0.0 if outage else 50.0,
            "time_on_battery_ns": since * INTERVAL_S * 10**9 if outage else 0,
            "nominal_input_voltage": 230.0,
            "nominal_battery_voltage": 12.0,
            "nominal_power": 480,
            "firmware": "925.T2 .I USB FW:T2",
            "battery_date": "2022-03-01",
        },
        t,
    )


# --- internet ---------------------------------------------------------------------------------------------------


def _ping(w: _Writer, step: int, t: int) -> None:
    for index, url in enumerate(PING_TARGETS):
        rtt = 8 + 4 * index + 6 * _wave(step, 50, index + w.source.seed)
        if url == "9.9.9.9" and 300 <= step < 306:
            w.add(
                "ping",
                {"url": url},
                {"result_code": 1, "packets_transmitted": 3, "packets_received": 0, "percent_packet_loss": 100.0},
                t,
            )
            continue
        lost = 1 if url == "9.9.9.9" and 306 <= step < 360 and step % 4 == 0 else 0
        w.add(
            "ping",
            {"url": url},
            {
                "result_code": 0,
                "packets_transmitted": 3,
                "packets_received": 3 - lost,
                "ttl": 57,
                "percent_packet_loss": 100.0 * lost / 3,
                "minimum_response_ms": round(rtt * 0.9, 3),
                "average_response_ms": round(rtt, 3),
                "maximum_response_ms": round(rtt * 1.2, 3),
                "standard_deviation_ms": round(rtt * 0.1, 3),
            },
            t,
        )


def _http_response(w: _Writer, step: int, t: int) -> None:
    for url in HTTP_TARGETS:
        tags = {"server": url, "method": "GET"}
        if url.endswith("/") and 500 <= step < 503:
            w.add("http_response", tags | {"result": "timeout"}, {"result_type": "timeout", "result_code": 4}, t)
            continue
        missing = url.endswith("no-such-page")
        result, code = ("response_string_mismatch", 1) if missing else ("success", 0)
        w.add(
            "http_response",
            tags | {"status_code": "404" if missing else "200", "result": result},
            {
                "response_time": round(0.08 + 0.2 * _wave(step, 60, w.source.seed), 4),
                "content_length": 9000 if missing else 38_000,
                "http_response_code": 404 if missing else 200,
                "result_type": result,
                "result_code": code,
                "response_string_match": 0 if missing else 1,
            },
            t,
        )


def _dns_query(w: _Writer, step: int, t: int) -> None:
    for server in DNS_SERVERS:
        for domain in DNS_DOMAINS:
            tags = {"server": server, "domain": domain, "record_type": "A"}
            if server == "8.8.8.8" and 600 <= step < 603:
                w.add("dns_query", tags | {"result": "timeout"}, {"result_code": 1}, t)
                continue
            w.add(
                "dns_query",
                tags | {"result": "success", "rcode": "NOERROR"},
                {"rcode_value": 0, "result_code": 0, "query_time_ms": round(5 + 20 * _wave(step, 30), 3)},
                t,
            )


def _internal(w: _Writer, step: int, t: int) -> None:
    """inputs.internal with collect_memstats = false, the fields Telegraf 1.32.3 and 1.39.3 both send (checked
    with --test): counters since Telegraf started, but the buffer's size and limit. ws.example.org's output
    stalls for ten minutes near the end, filling the buffer and dropping metrics; db-01's smart input fails."""
    version = {"version": "1.32.3", "go_version": "1.23.4"}
    stalled = w.source.seed == 1 and STEPS - 80 <= step < STEPS - 20
    dropped = 0 if w.source.seed != 1 or step < STEPS - 40 else 50 * (min(step, STEPS - 20) - (STEPS - 40))
    written = 120 * step - (120 * (step - (STEPS - 80)) if stalled else 0)
    errors = step // 30 if w.source.seed == 2 else 0
    w.add(
        "internal_agent",
        version,
        {"gather_errors": errors, "metrics_dropped": dropped, "metrics_gathered": 120 * step,
         "metrics_written": written},
        t,
    )  # fmt: skip
    buffer = 120 * (step - (STEPS - 80)) if stalled else 0
    w.add(
        "internal_write",
        {"output": "influxdb", "version": version["version"]},
        {"buffer_limit": 10_000, "buffer_size": min(buffer, 10_000), "errors": step // 10 if stalled else 0,
         "metrics_added": 120 * step, "metrics_dropped": dropped, "metrics_filtered": 0,
         "metrics_written": written, "write_time_ns": 2_000_000 + 10_000 * (step % 7)},
        t,
    )  # fmt: skip
    for plugin in ("cpu", "disk", *(("smart",) if "smart" in w.source.features else ())):
        w.add(
            "internal_gather",
            {"input": plugin, "version": version["version"]},
            {"errors": errors if plugin == "smart" else 0,
             "gather_time_ns": 1_000_000 * (3 if plugin == "smart" else 1), "metrics_gathered": 10 * step},
            t,
        )  # fmt: skip


PLUGINS: dict[str, Callable[[_Writer, int, int], None]] = {
    "internal": _internal,
    "cpu": _cpu,
    "mem": _mem,
    "swap": _swap,
    "system": _system,
    "kernel": _kernel,
    "processes": _processes,
    "disk": _disk,
    "diskio": _diskio,
    "net": _net,
    "netstat": _netstat,
    "smart": _smart,
    "sensors": _sensors,
    "nvidia_smi": _nvidia_smi,
    "docker": _docker,
    "apcupsd": _apcupsd,
    "ping": _ping,
    "http_response": _http_response,
    "dns_query": _dns_query,
}


def generate(end_s: int, sources: tuple[Source, ...] = (*HOSTS, PROBE)) -> Dataset:
    """Two hours of gathers every 10 s, the last at ``end_s`` (rounded down to the interval), for each source."""
    end_s -= end_s % INTERVAL_S
    dataset = Dataset(start_s=end_s - (STEPS - 1) * INTERVAL_S, end_s=end_s)
    for source in sources:
        for feature in (("base",) if source.base else ()) + source.features:
            for plugin in FEATURE_PLUGINS[feature]:
                writer = _Writer(dataset, source, feature, plugin)
                for step in range(STEPS):
                    PLUGINS[plugin](writer, step, dataset.start_s + step * INTERVAL_S)
    # Written by ensure-influxdb at the server's start, each at the time of its bake (a day before the data).
    schema = dataset.schema.setdefault("madash_baked", MeasurementSchema("madash"))
    schema.tags |= {"host", "madash_package"}
    schema.fields["version"] = "string"
    dataset.features.setdefault("server", set()).add("madash_baked")
    for host, version in sorted(BAKED.items()):
        package = _escape_key(f"madash-client-{host}={version}")
        dataset.baked.append(
            f'madash_baked,host={host},madash_package={package} version="{version}" {(end_s - 86400) * 10**9}'
        )
    return dataset
