"""The SMART dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from dashboards.board import Hosts, TagValues, make
from dashboards.influx import Query
from dashboards.panels import (
    Common,
    Item,
    Override,
    Row,
    gauge_panel,
    stat_panel,
    table_panel,
    timeseries_panel,
)

FILE = "smart.json"

ITEMS: list[Item] = [
    table_panel(
        Common(
            title="Devices",
            description="Every selected drive: SMART overall health, temperature and the error counters smartctl reports for it.",
            unit="none",
            targets=(
                Query(
                    'SELECT last("health_ok") AS "health", last("temp_c") AS "temperature", last("reallocated_sectors_count") AS "reallocated", last("pending_sector_count") AS "pending", last("udma_crc_errors") AS "CRC errors", last("exit_status") AS "smartctl status" FROM "smart_device" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host", "device", "model", "serial_no"'
                ).table(),
            ),
            w=24,
            h=7,
            overrides=(
                Override(
                    "byName",
                    "health",
                    (
                        (
                            "mappings",
                            [
                                {
                                    "type": "value",
                                    "options": {
                                        "true": {"text": "PASSED", "color": "green", "index": 0},
                                        "false": {"text": "FAILED", "color": "red", "index": 1},
                                    },
                                }
                            ],
                        ),
                        ("custom.cellOptions", {"type": "color-background"}),
                    ),
                ),
                Override(
                    "byName",
                    "temperature",
                    (
                        ("unit", "celsius"),
                        (
                            "thresholds",
                            {
                                "mode": "absolute",
                                "steps": [
                                    {"color": "green", "value": None},
                                    {"color": "orange", "value": 50},
                                    {"color": "red", "value": 60},
                                ],
                            },
                        ),
                        ("custom.cellOptions", {"type": "color-text"}),
                    ),
                ),
                Override(
                    "byName",
                    "reallocated",
                    (
                        ("unit", "none"),
                        (
                            "thresholds",
                            {
                                "mode": "absolute",
                                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                            },
                        ),
                        ("custom.cellOptions", {"type": "color-text"}),
                    ),
                ),
                Override(
                    "byName",
                    "pending",
                    (
                        ("unit", "none"),
                        (
                            "thresholds",
                            {
                                "mode": "absolute",
                                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                            },
                        ),
                        ("custom.cellOptions", {"type": "color-text"}),
                    ),
                ),
            ),
        ),
        columns=(
            "host",
            "device",
            "model",
            "serial_no",
            "health",
            "temperature",
            "reallocated",
            "pending",
            "CRC errors",
            "smartctl status",
            "Time",
        ),
        sort="host",
        descending=False,
    ),
    Row(
        "$device",
        [
            stat_panel(
                Common(
                    title="Health",
                    description="smartctl's overall-health self-assessment (PASSED or FAILED) per host.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("health_ok") FROM "smart_device" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host"'
                        ).alias("$tag_host"),
                    ),
                    w=4,
                    h=6,
                    mappings=(("value", "true", "PASSED", "green"), ("value", "false", "FAILED", "red")),
                ),
                color="background",
                fields="/^(?!Time$).+$/",
            ),
            stat_panel(
                Common(
                    title="Power-on time",
                    description="Power_On_Hours (ATA attribute 9, or the NVMe health log).",
                    unit="h",
                    targets=(
                        Query(
                            'SELECT last("raw_value") FROM "smart_attribute" WHERE "name" = \'Power_On_Hours\' AND "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host"'
                        ).alias("$tag_host"),
                    ),
                    w=4,
                    h=6,
                )
            ),
            gauge_panel(
                Common(
                    title="Life used",
                    description="NVMe Percentage_Used: the share of rated endurance consumed. No data: not an NVMe drive.",
                    unit="percent",
                    targets=(
                        Query(
                            'SELECT last("raw_value") FROM "smart_attribute" WHERE "name" = \'Percentage_Used\' AND "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host"'
                        ).alias("$tag_host"),
                    ),
                    w=4,
                    h=6,
                    steps=(("green", None), ("orange", 80), ("red", 95)),
                    min=0,
                    max=100,
                )
            ),
            timeseries_panel(
                Common(
                    title="Temperature",
                    description="Drive temperature; orange above 50 °C, red above 60 °C.",
                    unit="celsius",
                    targets=(
                        Query(
                            'SELECT mean("temp_c") FROM "smart_device" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY time($__interval), "host" fill(null)'
                        ).alias("$tag_host"),
                    ),
                    w=12,
                    h=6,
                    steps=(("green", None), ("orange", 50), ("red", 60)),
                ),
                threshold_style="dashed",
            ),
            table_panel(
                Common(
                    title="Attributes",
                    description="The latest SMART attributes: normalised value, worst value, failure threshold and raw value. NVMe drives report raw values only; FAIL shows when an attribute is or was at its threshold.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT last("value") AS "value", last("worst") AS "worst", last("threshold") AS "threshold", last("raw_value") AS "raw value" FROM "smart_attribute" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host", "id", "name", "flags", "fail"'
                        ).table(),
                    ),
                    w=14,
                    h=10,
                    overrides=(
                        Override(
                            "byName",
                            "fail",
                            (
                                (
                                    "mappings",
                                    [
                                        {
                                            "type": "value",
                                            "options": {"-": {"text": "-", "color": "transparent", "index": 0}},
                                        },
                                        {
                                            "type": "regex",
                                            "options": {"pattern": ".+", "result": {"color": "red", "index": 1}},
                                        },
                                    ],
                                ),
                                ("custom.cellOptions", {"type": "color-text"}),
                            ),
                        ),
                    ),
                ),
                columns=("host", "id", "name", "flags", "fail", "value", "worst", "threshold", "raw value", "Time"),
                sort="name",
                descending=False,
            ),
            table_panel(
                Common(
                    title="Changed attributes",
                    description="Attributes whose raw or normalised value changed within the time range (first, last and how much).",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT * FROM (SELECT first("raw_value") AS "first raw", last("raw_value") AS "last raw", spread("raw_value") AS "raw change", spread("value") AS "value change" FROM "smart_attribute" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY "host", "id", "name") WHERE ("raw change" > 0 OR "value change" > 0) AND $timeFilter GROUP BY "host", "id", "name"'
                        ).table(),
                    ),
                    w=10,
                    h=10,
                ),
                columns=("host", "id", "name", "first raw", "last raw", "raw change", "value change", "Time"),
                sort="raw change",
                descending=True,
            ),
            timeseries_panel(
                Common(
                    title="Error counters",
                    description="Raw counts of reallocated, pending and uncorrectable sectors, interface CRC errors and NVMe media errors: any rise is worth a look.",
                    unit="none",
                    targets=(
                        Query(
                            'SELECT max("reallocated_sectors_count") AS "reallocated", max("pending_sector_count") AS "pending", max("uncorrectable_sector_count") AS "offline uncorrectable", max("uncorrectable_errors") AS "reported uncorrectable", max("udma_crc_errors") AS "CRC errors" FROM "smart_device" WHERE "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY time($__interval), "host" fill(null)'
                        ).alias("$tag_host $col"),
                        Query(
                            'SELECT max("raw_value") AS "media errors" FROM "smart_attribute" WHERE "name" = \'Media_and_Data_Integrity_Errors\' AND "host" =~ /^$host$/ AND "device" =~ /^$device$/ AND $timeFilter GROUP BY time($__interval), "host" fill(null)',
                            "B",
                        ).alias("$tag_host $col"),
                    ),
                    w=24,
                    h=7,
                    min=0,
                )
            ),
        ],
        repeat="device",
    ),
]


def build() -> dashboard.Dashboard:
    return make(
        uid="madash-smart",
        title="SMART",
        description="Drive health from smartctl, one host at a time and a row per device: health, temperature, attributes and what changed.",
        tags=["smart", "disks"],
        variables=[
            Hosts("host", "Host", "smart_device", "exit_status", single=True),
            TagValues(
                "device", "Device", 'SHOW TAG VALUES FROM "smart_device" WITH KEY = "device" WHERE "host" =~ /^$host$/'
            ),
        ],
        items=ITEMS,
    )
