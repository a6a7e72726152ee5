"""The Host dashboard: one host, its base metrics open, each further group in a collapsed row that queries
only when opened."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from dashboards import telegraf_row
from dashboards.board import FeatureHost, Hosts, make
from dashboards.influx import Query
from dashboards.panels import (
    LIMIT_LINE,
    Common,
    Item,
    Override,
    Row,
    bargauge_panel,
    gauge_panel,
    stat_panel,
    table_panel,
    timeline_panel,
    timeseries_panel,
)

FILE = "host.json"
UID = "madash-host"

ITEMS: list[Item] = [
    Row(
        "Overview",
        [
            stat_panel(
                Common(
                    title="Uptime",
                    description="Time since boot (system uptime).",
                    unit="dtdurations",
                    targets=(
                        Query('SELECT last("uptime") FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter').alias(
                            "$col"
                        ),
                    ),
                    w=4,
                    h=4,
                )
            ),
            gauge_panel(
                Common(
                    title="CPU busy",
                    description="CPU time not idle, all cores.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("usage_active") FROM "cpu" WHERE "cpu" = \'cpu-total\' AND "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=4,
                    steps=(("green", None), ("orange", 70), ("red", 90)),
                    min=0,
                    max=100,
                )
            ),
            gauge_panel(
                Common(
                    title="Memory used",
                    description="mem used_percent.",
                    unit="percent",
                    targets=(
                        Query('SELECT last("used_percent") FROM "mem" WHERE "host" =~ /^$host$/ AND $timeFilter').alias(
                            "$col"
                        ),
                    ),
                    w=4,
                    h=4,
                    steps=(("green", None), ("orange", 80), ("red", 90)),
                    min=0,
                    max=100,
                )
            ),
            gauge_panel(
                Common(
                    title="Swap used",
                    description="swap used_percent.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("used_percent") FROM "swap" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=4,
                    steps=(("green", None), ("orange", 50), ("red", 80)),
                    min=0,
                    max=100,
                )
            ),
            stat_panel(
                Common(
                    title="Processes",
                    description="All processes, and zombies among them.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("total") AS "total", last("zombie") AS "zombie" FROM "processes" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=4,
                )
            ),
            stat_panel(
                Common(
                    title="TCP established",
                    description="Established TCP connections (netstat).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("tcp_established") FROM "netstat" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=4,
                )
            ),
            timeseries_panel(
                Common(
                    title="Load",
                    description="Load averages; the dashed line is the number of CPUs.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT mean("load1") AS "1 min", mean("load5") AS "5 min", mean("load15") AS "15 min" FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                        Query(
                            'SELECT last("n_cpus") AS "CPUs" FROM "system" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)',
                            "B",
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                    overrides=(
                        Override(
                            "byName",
                            "CPUs",
                            (
                                *LIMIT_LINE,
                                ("color", {"mode": "fixed", "fixedColor": "red"}),
                            ),
                        ),
                    ),
                )
            ),
            timeseries_panel(
                Common(
                    title="CPU usage",
                    description="Where CPU time goes, all cores (stacked, in percent of all CPUs).",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT mean("usage_user") AS "user", mean("usage_system") AS "system", mean("usage_nice") AS "nice", mean("usage_iowait") AS "iowait", mean("usage_irq") + mean("usage_softirq") AS "irq", mean("usage_steal") AS "steal" FROM "cpu" WHERE "cpu" = \'cpu-total\' AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                    max=100,
                ),
                fill=40,
                stacked=True,
            ),
            timeseries_panel(
                Common(
                    title="Memory and swap",
                    description="Memory used by programs, page cache and buffers, what is still available, and swap in use.",
                    unit="bytes",
                    targets=(
                        Query(
                            'SELECT mean("used") AS "used", mean("cached") + mean("buffered") AS "cache + buffers", mean("available") AS "available", last("total") AS "total" FROM "mem" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                        Query(
                            'SELECT mean("used") AS "swap used" FROM "swap" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)',
                            "B",
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                    overrides=(
                        Override(
                            "byName",
                            "total",
                            LIMIT_LINE,
                        ),
                    ),
                )
            ),
        ],
        collapsed=False,
    ),
    Row(
        "Disks",
        [
            bargauge_panel(
                Common(
                    title="Disk usage per mount",
                    description="Used space of each mounted file system (disk used_percent); red above 90 %.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("used_percent") FROM "disk" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "path"'
                        ).alias("$tag_path"),
                    ),
                    w=6,
                    h=8,
                    steps=(("green", None), ("orange", 80), ("red", 90)),
                    min=0,
                    max=100,
                )
            ),
            timeseries_panel(
                Common(
                    title="Disk throughput",
                    description="Bytes read (up) and written (down) per second, per block device.",
                    unit="Bps",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("read_bytes"), 1s) AS "read", non_negative_derivative(mean("write_bytes"), 1s) AS "write" FROM "diskio" WHERE "name" !~ /^(loop|ram|zram|sr|fd)[0-9]+$|^(sd|vd|xvd|hd)[a-z]+[0-9]+$|^(nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p[0-9]+$/ AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "name" fill(null)'
                        ).alias("$tag_name $col"),
                    ),
                    w=6,
                    h=8,
                    overrides=(Override("byRegexp", "/ write$/", (("custom.transform", "negative-Y"),)),),
                )
            ),
            timeseries_panel(
                Common(
                    title="Disk IOPS",
                    description="Read (up) and write (down) operations per second, per block device.",
                    unit="iops",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("reads"), 1s) AS "reads", non_negative_derivative(mean("writes"), 1s) AS "writes" FROM "diskio" WHERE "name" !~ /^(loop|ram|zram|sr|fd)[0-9]+$|^(sd|vd|xvd|hd)[a-z]+[0-9]+$|^(nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p[0-9]+$/ AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "name" fill(null)'
                        ).alias("$tag_name $col"),
                    ),
                    w=6,
                    h=8,
                    overrides=(Override("byRegexp", "/ writes$/", (("custom.transform", "negative-Y"),)),),
                )
            ),
            timeseries_panel(
                Common(
                    title="Disk busy",
                    description="Share of time each device had I/O in flight (diskio io_time, milliseconds per second / 10).",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("io_time"), 1s) / 10 FROM "diskio" WHERE "name" !~ /^(loop|ram|zram|sr|fd)[0-9]+$|^(sd|vd|xvd|hd)[a-z]+[0-9]+$|^(nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p[0-9]+$/ AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "name" fill(null)'
                        ).alias("$tag_name $col"),
                    ),
                    w=6,
                    h=8,
                    min=0,
                    max=100,
                )
            ),
            table_panel(
                Common(
                    title="File systems",
                    description="Size, free space and inode use of each mount.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("total") AS "size", last("free") AS "free", last("used_percent") AS "used", last("inodes_used") / last("inodes_total") * 100 AS "inodes used" FROM "disk" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "path", "device", "fstype"'
                        ).table(),
                    ),
                    w=8,
                    h=8,
                    overrides=(
                        Override("byName", "size", (("unit", "bytes"),)),
                        Override("byName", "free", (("unit", "bytes"),)),
                        Override(
                            "byName",
                            "used",
                            (
                                ("unit", "percent"),
                                (
                                    "thresholds",
                                    {
                                        "mode": "absolute",
                                        "steps": [
                                            {"color": "green", "value": None},
                                            {"color": "orange", "value": 80},
                                            {"color": "red", "value": 90},
                                        ],
                                    },
                                ),
                                ("custom.cellOptions", {"type": "color-text"}),
                            ),
                        ),
                        Override(
                            "byName",
                            "inodes used",
                            (
                                ("unit", "percent"),
                                (
                                    "thresholds",
                                    {
                                        "mode": "absolute",
                                        "steps": [
                                            {"color": "green", "value": None},
                                            {"color": "orange", "value": 80},
                                            {"color": "red", "value": 90},
                                        ],
                                    },
                                ),
                                ("decimals", 1),
                                ("custom.cellOptions", {"type": "color-text"}),
                            ),
                        ),
                    ),
                ),
                columns=("path", "device", "fstype", "size", "free", "used", "inodes used", "Time"),
                sort="used",
                descending=True,
            ),
        ],
        collapsed=True,
    ),
    Row(
        "Network",
        [
            timeseries_panel(
                Common(
                    title="Network throughput",
                    description="Bits received (up) and sent (down) per second, per interface.",
                    unit="bps",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("bytes_recv"), 1s) * 8 AS "in", non_negative_derivative(mean("bytes_sent"), 1s) * 8 AS "out" FROM "net" WHERE "interface" !~ /^(lo|veth.*)$/ AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "interface" fill(null)'
                        ).alias("$tag_interface $col"),
                    ),
                    w=8,
                    h=8,
                    overrides=(Override("byRegexp", "/ out$/", (("custom.transform", "negative-Y"),)),),
                )
            ),
            timeseries_panel(
                Common(
                    title="Network errors and drops",
                    description="Receive and send errors and dropped packets per second, per interface.",
                    unit="pps",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("err_in"), 1s) AS "errors in", non_negative_derivative(mean("err_out"), 1s) AS "errors out", non_negative_derivative(mean("drop_in"), 1s) AS "drops in", non_negative_derivative(mean("drop_out"), 1s) AS "drops out" FROM "net" WHERE "interface" !~ /^(lo|veth.*)$/ AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "interface" fill(null)'
                        ).alias("$tag_interface $col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                )
            ),
            timeseries_panel(
                Common(
                    title="TCP connections",
                    description="Sockets by TCP state, and UDP sockets (netstat).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT mean("tcp_established") AS "established", mean("tcp_time_wait") AS "time wait", mean("tcp_close_wait") AS "close wait", mean("tcp_syn_sent") AS "syn sent", mean("tcp_listen") AS "listen", mean("udp_socket") AS "UDP" FROM "netstat" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                )
            ),
        ],
        collapsed=True,
    ),
    Row(
        "Processes and kernel",
        [
            timeseries_panel(
                Common(
                    title="Processes",
                    description="Processes by state (processes input).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT mean("running") AS "running", mean("blocked") AS "blocked", mean("sleeping") AS "sleeping", mean("zombie") AS "zombie", mean("total") AS "total" FROM "processes" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                )
            ),
            timeseries_panel(
                Common(
                    title="Kernel activity",
                    description="Context switches, interrupts and new processes per second (kernel input).",
                    unit="ops",
                    targets=(
                        Query(
                            'SELECT non_negative_derivative(mean("context_switches"), 1s) AS "context switches", non_negative_derivative(mean("interrupts"), 1s) AS "interrupts", non_negative_derivative(mean("processes_forked"), 1s) AS "forks" FROM "kernel" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                    ),
                    w=8,
                    h=8,
                    min=0,
                )
            ),
        ],
        collapsed=True,
    ),
    telegraf_row.ROW,
    Row(
        "GPU (nvidia feature) on $gpu_host",
        [
            timeseries_panel(
                Common(
                    title="GPU utilisation",
                    description="GPU and memory-controller utilisation per GPU (nvidia_smi). No data: this host has no NVIDIA GPU.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT mean("utilization_gpu") AS "GPU", mean("utilization_memory") AS "memory" FROM "nvidia_smi" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "index", "name" fill(null)'
                        ).alias("$tag_index $tag_name $col"),
                    ),
                    w=6,
                    h=7,
                    min=0,
                    max=100,
                )
            ),
            timeseries_panel(
                Common(
                    title="GPU memory",
                    description="GPU memory used, and the card's total (MiB).",
                    unit="mbytes",
                    targets=(
                        Query(
                            'SELECT mean("memory_used") AS "used", last("memory_total") AS "total" FROM "nvidia_smi" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "index", "name" fill(null)'
                        ).alias("$tag_index $tag_name $col"),
                    ),
                    w=6,
                    h=7,
                    min=0,
                    overrides=(
                        Override(
                            "byRegexp",
                            "/ total$/",
                            LIMIT_LINE,
                        ),
                    ),
                )
            ),
            timeseries_panel(
                Common(
                    title="GPU temperature",
                    description="Core temperature per GPU; orange above 80 °C, red above 90 °C.",
                    unit="celsius",
                    targets=(
                        Query(
                            'SELECT mean("temperature_gpu") AS "temperature" FROM "nvidia_smi" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "index", "name" fill(null)'
                        ).alias("$tag_index $tag_name $col"),
                    ),
                    w=6,
                    h=7,
                    steps=(("green", None), ("orange", 80), ("red", 90)),
                ),
                threshold_style="dashed",
            ),
            timeseries_panel(
                Common(
                    title="GPU power",
                    description="Power draw per GPU.",
                    unit="watt",
                    targets=(
                        Query(
                            'SELECT mean("power_draw") AS "power" FROM "nvidia_smi" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "index", "name" fill(null)'
                        ).alias("$tag_index $tag_name $col"),
                    ),
                    w=6,
                    h=7,
                    min=0,
                )
            ),
        ],
        repeat="gpu_host",
        collapsed=True,
    ),
    Row(
        "Docker (docker feature) on $docker_host",
        [
            stat_panel(
                Common(
                    title="Docker containers",
                    description="Containers running, stopped and paused, and images (docker engine). No data: docker is not monitored here.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("n_containers_running") AS "running", last("n_containers_stopped") AS "stopped", last("n_containers_paused") AS "paused", last("n_images") AS "images" FROM "docker" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=7,
                )
            ),
            timeseries_panel(
                Common(
                    title="Container CPU",
                    description="CPU use per container, in percent of one CPU.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT mean("usage_percent") FROM "docker_container_cpu" WHERE "cpu" = \'cpu-total\' AND "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "container_name" fill(null)'
                        ).alias("$tag_container_name"),
                    ),
                    w=5,
                    h=7,
                    min=0,
                )
            ),
            timeseries_panel(
                Common(
                    title="Container memory",
                    description="Memory use per container.",
                    unit="bytes",
                    targets=(
                        Query(
                            'SELECT mean("usage") FROM "docker_container_mem" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "container_name" fill(null)'
                        ).alias("$tag_container_name"),
                    ),
                    w=5,
                    h=7,
                    min=0,
                )
            ),
            timeseries_panel(
                Common(
                    title="Container network",
                    description="Bits received (up) and sent (down) per second per container, over all its networks.",
                    unit="bps",
                    targets=(
                        Query(
                            'SELECT sum("rx_bytes") * 8 AS "in", sum("tx_bytes") * 8 AS "out" FROM (SELECT non_negative_derivative(last("rx_bytes"), 1s) AS "rx_bytes", non_negative_derivative(last("tx_bytes"), 1s) AS "tx_bytes" FROM "docker_container_net" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "container_name", "network" fill(null)) WHERE $timeFilter GROUP BY time($__interval), "container_name" fill(null)'
                        ).alias("$tag_container_name $col"),
                    ),
                    w=5,
                    h=7,
                    overrides=(Override("byRegexp", "/ out$/", (("custom.transform", "negative-Y"),)),),
                )
            ),
            timeseries_panel(
                Common(
                    title="Container block I/O",
                    description="Bytes read (up) and written (down) per second per container, over all its devices.",
                    unit="Bps",
                    targets=(
                        Query(
                            'SELECT sum("io_service_bytes_recursive_read") * 1 AS "read", sum("io_service_bytes_recursive_write") * 1 AS "write" FROM (SELECT non_negative_derivative(last("io_service_bytes_recursive_read"), 1s) AS "io_service_bytes_recursive_read", non_negative_derivative(last("io_service_bytes_recursive_write"), 1s) AS "io_service_bytes_recursive_write" FROM "docker_container_blkio" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "container_name", "device" fill(null)) WHERE $timeFilter GROUP BY time($__interval), "container_name" fill(null)'
                        ).alias("$tag_container_name $col"),
                    ),
                    w=5,
                    h=7,
                    overrides=(Override("byRegexp", "/ write$/", (("custom.transform", "negative-Y"),)),),
                )
            ),
            table_panel(
                Common(
                    title="Containers",
                    description="Each container's image, state, restarts, out-of-memory kills and uptime.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("restart_count") AS "restarts", last("oomkilled") AS "OOM killed", last("exitcode") AS "exit code", last("uptime_ns") AS "uptime" FROM "docker_container_status" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "container_name", "container_image", "container_version", "container_status"'
                        ).table(),
                    ),
                    w=12,
                    h=7,
                    overrides=(
                        Override("byName", "uptime", (("unit", "ns"),)),
                        Override(
                            "byName",
                            "restarts",
                            (
                                ("unit", "none"),
                                (
                                    "thresholds",
                                    {
                                        "mode": "absolute",
                                        "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}],
                                    },
                                ),
                                ("custom.cellOptions", {"type": "color-text"}),
                            ),
                        ),
                    ),
                ),
                columns=(
                    "container_name",
                    "container_image",
                    "container_version",
                    "container_status",
                    "restarts",
                    "OOM killed",
                    "exit code",
                    "uptime",
                    "Time",
                ),
                sort="container_name",
                descending=False,
            ),
            timeline_panel(
                Common(
                    title="Container health",
                    description="HEALTHCHECK results of the containers that define one.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("health_status") FROM "docker_container_health" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "container_name" fill(null)'
                        ).alias("$tag_container_name"),
                    ),
                    w=12,
                    h=7,
                    mappings=(
                        ("value", "healthy", "healthy", "green"),
                        ("value", "unhealthy", "unhealthy", "red"),
                        ("value", "starting", "starting", "yellow"),
                    ),
                )
            ),
        ],
        repeat="docker_host",
        collapsed=True,
    ),
    Row(
        "UPS (ups feature) on $ups_host",
        [
            stat_panel(
                Common(
                    title="UPS status",
                    description="apcupsd's status (ONLINE, ONBATT, LOWBATT, ...). No data: no UPS is monitored here.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("status_flags") AS "flags", "status" FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).table(),
                    ),
                    w=4,
                    h=6,
                    mappings=(
                        ("regex", "^ONLINE$", "ONLINE", "green"),
                        ("regex", ".*(ONBATT|LOWBATT|COMMLOST|SHUTTING).*", "", "red"),
                    ),
                ),
                color="background",
                fields="/^status$/",
            ),
            gauge_panel(
                Common(
                    title="Battery charge",
                    description="UPS battery charge.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("battery_charge_percent") FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=6,
                    steps=(("red", None), ("orange", 30), ("green", 60)),
                    min=0,
                    max=100,
                )
            ),
            gauge_panel(
                Common(
                    title="UPS load",
                    description="Load in percent of the UPS's capacity.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("load_percent") FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=6,
                    steps=(("green", None), ("orange", 70), ("red", 90)),
                    min=0,
                    max=100,
                )
            ),
            stat_panel(
                Common(
                    title="Time left on battery",
                    description="apcupsd's estimate of the runtime left on battery.",
                    unit="ns",
                    targets=(
                        Query(
                            'SELECT last("time_left_ns") FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter'
                        ).alias("$col"),
                    ),
                    w=4,
                    h=6,
                    steps=(("red", None), ("orange", 600000000000.0), ("green", 1200000000000.0)),
                ),
                color="value",
            ),
            timeseries_panel(
                Common(
                    title="UPS history",
                    description="Battery charge and load (left), input voltage (right).",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT mean("battery_charge_percent") AS "charge", mean("load_percent") AS "load" FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)'
                        ).alias("$col"),
                        Query(
                            'SELECT mean("input_voltage") AS "input voltage" FROM "apcupsd" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)',
                            "B",
                        ).alias("$col"),
                    ),
                    w=8,
                    h=6,
                    min=0,
                    overrides=(
                        Override("byName", "input voltage", (("unit", "volt"), ("custom.axisPlacement", "right"))),
                    ),
                )
            ),
        ],
        repeat="ups_host",
        collapsed=True,
    ),
    Row(
        "Sensors (sensors feature) on $sensors_host",
        [
            timeseries_panel(
                Common(
                    title="Temperatures",
                    description="lm-sensors temperatures per chip and sensor; orange above 80 °C, red above 90 °C. No data: no sensors here.",
                    unit="celsius",
                    targets=(
                        Query(
                            'SELECT mean("temp_input") FROM "sensors" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "chip", "feature" fill(null)'
                        ).alias("$tag_chip $tag_feature"),
                    ),
                    w=12,
                    h=8,
                    steps=(("green", None), ("orange", 80), ("red", 90)),
                ),
                threshold_style="dashed",
            ),
            timeseries_panel(
                Common(
                    title="Fans",
                    description="lm-sensors fan speeds.",
                    unit="rotrpm",
                    targets=(
                        Query(
                            'SELECT mean("fan_input") FROM "sensors" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "chip", "feature" fill(null)'
                        ).alias("$tag_chip $tag_feature"),
                    ),
                    w=12,
                    h=8,
                    min=0,
                )
            ),
        ],
        repeat="sensors_host",
        collapsed=True,
    ),
]


def build() -> dashboard.Dashboard:
    return make(
        uid=UID,
        title="Host",
        description="One host: CPU, memory and load open; disks, network, processes and each feature in collapsed rows.",
        tags=["host"],
        variables=[
            Hosts("host", "Host", "system", "uptime", single=True),
            FeatureHost("gpu_host", "nvidia_smi", "utilization_gpu"),
            FeatureHost("docker_host", "docker", "n_containers"),
            FeatureHost("ups_host", "apcupsd", "battery_charge_percent"),
            FeatureHost("sensors_host", "sensors", "temp_input"),
        ],
        items=ITEMS,
    )
