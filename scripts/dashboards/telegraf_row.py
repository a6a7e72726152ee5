"""The Host dashboard's Telegraf row: the agent's own health from inputs.internal (every host runs it)."""

from __future__ import annotations

from dashboards.influx import Query
from dashboards.panels import LIMIT_LINE, Common, Override, Row, stat_panel, timeseries_panel

ROW = Row(
    "Telegraf",
    [
        stat_panel(
            Common(
                title="Metrics dropped and gather errors",
                description="In the chosen period: metrics the output buffer had to drop (the server was out of "
                "reach too long), failed writes, and gathers of an input that failed (internal_agent, "
                "internal_write). Anything but 0 deserves a look.",
                unit="none",
                targets=(
                    Query(
                        'SELECT spread("metrics_dropped") AS "dropped", spread("gather_errors") AS "gather errors" '
                        'FROM "internal_agent" WHERE "host" =~ /^$host$/ AND $timeFilter'
                    ).alias("$col"),
                    Query(
                        'SELECT spread("errors") AS "write errors" FROM "internal_write" WHERE "host" =~ /^$host$/ AND $timeFilter',
                        "B",
                    ).alias("$col"),
                ),
                w=6,
                h=7,
                steps=(("green", None), ("red", 1)),
            ),
            color="background",
        ),
        timeseries_panel(
            Common(
                title="Output buffer",
                description="Metrics waiting in each output's buffer, and its limit (dashed): the buffer fills "
                "while the server cannot be reached; full, it drops the oldest.",
                unit="none",
                targets=(
                    Query(
                        'SELECT max("buffer_size") AS "buffer", last("buffer_limit") AS "limit" FROM "internal_write" '
                        'WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "output" fill(null)'
                    ).alias("$tag_output $col"),
                ),
                w=6,
                h=7,
                min=0,
                overrides=(
                    Override(
                        "byRegexp",
                        "/ limit$/",
                        LIMIT_LINE,
                    ),
                ),
            )
        ),
        timeseries_panel(
            Common(
                title="Metrics written",
                description="Metrics written to the server per second (internal_write), against those gathered "
                "(internal_agent): a gap between them is metrics buffered or dropped.",
                unit="cps",
                targets=(
                    Query(
                        'SELECT non_negative_derivative(last("metrics_written"), 1s) AS "written" '
                        'FROM "internal_write" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "output" fill(null)'
                    ).alias("$tag_output $col"),
                    Query(
                        'SELECT non_negative_derivative(last("metrics_gathered"), 1s) AS "gathered" '
                        'FROM "internal_agent" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval) fill(null)',
                        "B",
                    ).alias("$col"),
                ),
                w=6,
                h=7,
                min=0,
            )
        ),
        timeseries_panel(
            Common(
                title="Gather time per input",
                description="How long each input takes to gather (internal_gather gather_time_ns); one close to "
                "its interval makes Telegraf skip gathers.",
                unit="ns",
                targets=(
                    Query(
                        'SELECT mean("gather_time_ns") FROM "internal_gather" '
                        'WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "input" fill(null)'
                    ).alias("$tag_input"),
                    Query(
                        'SELECT non_negative_difference(last("errors")) AS "errors" FROM "internal_gather" '
                        'WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "input" fill(null)',
                        "B",
                    ).alias("$tag_input $col"),
                ),
                w=6,
                h=7,
                min=0,
                overrides=(
                    Override(
                        "byRegexp",
                        "/ errors$/",
                        (("unit", "none"), ("custom.axisPlacement", "right"), ("custom.drawStyle", "bars")),
                    ),
                ),
            )
        ),
    ],
    collapsed=True,
)
