"""The dashboards against what Grafana 12 really does with their answers (tests/grafana_model.py), in a real influxd.

Each test here is one fault that the query-only checks of test_dashboards.py could not see: series named
``measurement.column`` so that overrides never match, empty mapping texts, table columns in Go map order, variable
queries over several measurements of which Grafana keeps one, unit ids Grafana does not have, ``fill(none)`` lines
across outages, pseudo devices, and hosts that stopped reporting long ago still listed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.grafana_model import UNIT_IDS, Series, field_matcher, metric_find_values, series_names, table_fields
from tests.servers import Influxd
from tests.telegraf_data import HOSTS, Dataset, generate
from tests.test_dashboards import (
    DASHBOARD_WIDTH_PX,
    DASHBOARDS,
    DATABASE,
    NO_QUERY_TYPES,
    Json,
    Store,
    TimeRange,
    all_options,
    backend_macros,
    interpolate,
    panel_contexts,
    panel_rows,
    panels,
    ranges,
    round_interval,
    uses,
    variable_options,
    variables,
    write_dataset,
)

pytestmark = pytest.mark.network

# Devices Telegraf reports on a real host that no one wants on a dashboard: they double-count or are noise.
PSEUDO_DISKS = ("loop0", "loop12", "ram0", "zram0", "sr0", "sda1", "vdb2", "nvme0n1p1", "mmcblk0p2")
PSEUDO_INTERFACES = ("lo", "veth3f2a1b7")
REAL_HOST = HOSTS[0].host
RETIRED = "retired-01"  # last report three days ago
QUIET = "quiet-01"  # last report three hours ago, and only through system and ping
HOST_VARIABLES = {"host", "ping_host", "http_host", "dns_host"}


def extra_lines(now_s: int) -> list[str]:
    lines: list[str] = []
    for step in range(180):  # the last half hour, every 10 s: enough for derivatives
        t = (now_s - 1800 + step * 10) * 1_000_000_000
        for disk in PSEUDO_DISKS:
            count = step * 1000
            lines.append(
                f"diskio,host={REAL_HOST},name={disk} read_bytes={count}i,write_bytes={count}i,reads={step}i,"
                f"writes={step}i,io_time={step * 10}i {t}"
            )
        for interface in PSEUDO_INTERFACES:
            count = step * 5000
            lines.append(
                f"net,host={REAL_HOST},interface={interface} bytes_recv={count}i,bytes_sent={count}i,err_in=0i,"
                f"err_out=0i,drop_in=0i,drop_out=0i {t}"
            )
    for host, age_s, measurements in (
        (RETIRED, 3 * 86400, ("system", "smart_device", "ping", "http_response", "dns_query")),
        (QUIET, 3 * 3600, ("system", "ping")),
    ):
        t = (now_s - age_s) * 1_000_000_000
        fields = {"system": "uptime=1i", "smart_device": "exit_status=0i,health_ok=true"}
        for measurement in measurements:
            lines.append(f"{measurement},host={host} {fields.get(measurement, 'result_code=0i')} {t}")
    return lines


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    now_s = int(time.time())
    dataset: Dataset = generate(now_s)
    with Influxd(tmp_path_factory.mktemp("influx-grafana-rules"), auth=False) as influx:
        write_dataset(influx, dataset, ("\n".join(extra_lines(now_s)) + "\n",))
        yield Store(influx, dataset, 0.0)


def answer(store: Store, query: str) -> list[Series]:
    [result] = store.influx.query(query, db=DATABASE)["results"]
    assert "error" not in result, f"{result['error']}\n{query}"
    series: list[Series] = result.get("series", [])
    return series


@dataclass(frozen=True)
class Ran:
    panel: Json
    target: Json
    context: str
    query: str
    series: list[Series]


def every_run(store: Store) -> Iterator[tuple[str, Ran]]:
    """Every panel query of every dashboard, in each row of a repeated row, over the data set's two hours."""
    for name, dashboard in DASHBOARDS.items():
        time_range: TimeRange = ranges(store.dataset)[0]
        repeat_of = panel_rows(dashboard)
        contexts_of = {
            repeat: panel_contexts(store, dashboard, time_range, repeat) for repeat in set(repeat_of.values())
        }
        for panel in panels(dashboard):
            if panel["type"] in NO_QUERY_TYPES:
                continue
            width_px = panel["gridPos"]["w"] * DASHBOARD_WIDTH_PX // 24
            interval_ms = round_interval((time_range.to_ms - time_range.from_ms) / width_px)
            for target in panel["targets"]:
                for label, values in contexts_of[repeat_of[panel["id"]]]:
                    query = backend_macros(interpolate(target["query"], values), time_range, interval_ms)
                    yield name, Ran(panel, target, label, query, answer(store, query))


@pytest.fixture(scope="module")
def runs(store: Store) -> list[tuple[str, Ran]]:
    return list(every_run(store))


def field_configs(panel: Json) -> Iterator[tuple[str, Any, Any]]:
    """(where, unit, mappings) of the panel's defaults and of each override."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    yield "defaults", defaults.get("unit"), defaults.get("mappings", [])
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        properties = {p["id"]: p["value"] for p in override["properties"]}
        yield f"override {override['matcher']}", properties.get("unit"), properties.get("mappings", [])


def all_panels() -> Iterator[tuple[str, Json]]:
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            yield f"{name}: {panel['title']!r}", panel


def test_series_are_named_by_an_alias_not_measurement_dot_column(runs: list[tuple[str, Ran]]) -> None:
    wrong: set[str] = set()
    for name, ran in runs:
        if ran.target["resultFormat"] != "time_series":
            continue
        measurements = uses(ran.target["query"]).measurements
        for names in series_names(ran.series, ran.target.get("alias", "")):
            for shown in names:
                if any(shown.startswith(f"{m}.") for m in measurements) or "$" in shown:
                    wrong.add(f"{name}: {ran.panel['title']!r} {ran.target['refId']} is named {shown!r}")
    assert not wrong, "\n".join(sorted(wrong))


def test_every_override_matches_a_series_its_queries_produce(runs: list[tuple[str, Ran]]) -> None:
    # Per panel: the names of its fields; a series without alias has several possible names (its tag order), and a
    # matcher must match in each of them.
    produced: dict[tuple[str, int], list[set[str]]] = {}
    for name, ran in runs:
        names = produced.setdefault((name, ran.panel["id"]), [])
        if ran.target["resultFormat"] == "table":
            names += [{field} for field in table_fields(ran.series)]
        else:
            names += series_names(ran.series, ran.target.get("alias", ""))
    checked, missing = 0, []
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                matches = field_matcher(override["matcher"])
                fields = produced[(name, panel["id"])]
                checked += 1
                if not any(all(matches(variant) for variant in variants) for variants in fields):
                    sample = sorted(min(v) for v in fields)[:6]
                    missing.append(f"{name}: {panel['title']!r} {override['matcher']} matches none of {sample}")
    assert not missing, "\n".join(missing)
    assert checked >= 20


def test_value_mappings_have_a_text() -> None:
    empty: list[str] = []
    for where, panel in all_panels():
        for part, _, mappings in field_configs(panel):
            for mapping in mappings:
                options = mapping["options"]
                results = [options["result"]] if "result" in options else list(options.values())
                empty += [f"{where} {part}: {r}" for r in results if "text" in r and not str(r["text"]).strip()]
    assert not empty, "an empty text shows an empty cell:\n" + "\n".join(empty)


def test_every_unit_is_in_grafanas_registry() -> None:
    units: dict[str, str] = {}
    for where, panel in all_panels():
        for part, unit, _ in field_configs(panel):
            if unit is not None:
                units[f"{where} {part}"] = unit
    unknown = {where: unit for where, unit in units.items() if unit not in UNIT_IDS}
    assert not unknown, unknown
    assert len(units) > 50


def test_table_columns_have_a_fixed_order(runs: list[tuple[str, Ran]]) -> None:
    fields: dict[tuple[str, int], set[str]] = {}
    for name, ran in runs:
        if ran.panel["type"] == "table":
            fields.setdefault((name, ran.panel["id"]), set()).update(table_fields(ran.series))
    assert len(fields) >= 5
    loose: list[str] = []
    for (name, panel_id), produced in fields.items():
        panel = next(p for p in panels(DASHBOARDS[name]) if p["id"] == panel_id)
        [organize] = [t["options"] for t in panel.get("transformations", []) if t["id"] == "organize"]
        index = organize["indexByName"]
        assert sorted(index.values()) == list(range(len(index))), f"{name}: {panel['title']!r} indexes {index}"
        # Tag columns come from a Go map: each one needs its place, or the order changes on refresh.
        if produced - set(index):
            loose.append(f"{name}: {panel['title']!r} leaves {sorted(produced - set(index))} unplaced")
    assert not loose, "\n".join(loose)


TIME_GROUP = re.compile(r"GROUP BY time\([^)]*\)[^)]*?(?:fill\((\w+)\)|(?=\)|$))")


def test_time_buckets_fill_null() -> None:
    """fill(none) drops empty buckets, and Grafana draws a straight line across an outage. A count of reports
    that a panel reduces to one value (the host-silent rule's own query) counts an empty minute as 0."""
    wrong: list[str] = []
    count = 0
    for where, panel in all_panels():
        for target in panel.get("targets", []):
            for match in TIME_GROUP.finditer(target["query"]):
                count += 1
                counted = panel["type"] == "bargauge" and "moving_average(count(" in target["query"]
                if match.group(1) != "null" and not (counted and match.group(1) == "0"):
                    wrong.append(f"{where} {target['refId']}: fill({match.group(1)})")
    assert not wrong, "\n".join(wrong)
    assert count >= 30


def test_each_variable_query_reads_one_measurement() -> None:
    for name, dashboard in DASHBOARDS.items():
        for variable in variables(dashboard):
            if variable["type"] == "query":
                found = uses(variable["query"]).measurements
                assert len(found) == 1, f"{name}: {variable['name']} reads {sorted(found)}: Grafana keeps the first"


def test_a_query_over_several_measurements_would_lose_hosts(store: Store) -> None:
    """The rule the test above keeps: quiet-01 probes by ping only, and the first frame is dns_query's."""
    old = 'SHOW TAG VALUES FROM "ping", "http_response", "dns_query" WITH KEY = "host"'
    assert QUIET not in metric_find_values(answer(store, old))
    assert QUIET in {row[1] for series in answer(store, old) for row in series["values"]}


def test_pseudo_devices_are_left_out(runs: list[tuple[str, Ran]]) -> None:
    pseudo = set(PSEUDO_DISKS) | set(PSEUDO_INTERFACES)
    shown: set[str] = set()
    seen_real: set[str] = set()
    for name, ran in runs:
        for series in ran.series:
            tags = series.get("tags") or {}
            for key in ("name", "interface"):
                if tags.get(key) in pseudo:
                    shown.add(f"{name}: {ran.panel['title']!r} [{ran.context}] shows {key}={tags[key]}")
                elif key in tags and series["name"] in ("diskio", "net"):
                    seen_real.add(tags[key])
            for row in series["values"]:
                shown |= {f"{name}: {ran.panel['title']!r} lists {v}" for v in row if v in pseudo}
    assert not shown, "\n".join(sorted(shown))
    assert seen_real, "no disk or interface shown at all"


@pytest.mark.parametrize("period, listed", [("1d", {QUIET}), ("1h", set()), ("7d", {QUIET, RETIRED})])
def test_hosts_silent_longer_than_the_period_drop_out(store: Store, period: str, listed: set[str]) -> None:
    checked = 0
    for name, dashboard in DASHBOARDS.items():
        time_range = ranges(store.dataset)[0]
        options = variable_options(store, dashboard, time_range, chosen={"silent": period})
        for variable, value in options.items():
            if variable not in HOST_VARIABLES:
                continue
            # A single-value variable offers the same list; it shows one of them at a time.
            found = value if isinstance(value, list) else all_options(store, dashboard, time_range, variable, period)
            checked += 1
            assert REAL_HOST in found, f"{name}: {variable} at {period}"
            extra = {QUIET, RETIRED} & set(found)
            kept = {h for h in listed if h != QUIET or variable in ("host", "ping_host")}
            if name == "smart.json":
                kept.discard(QUIET)  # it never had SMART data
            assert extra == kept, f"{name}: {variable} with silent={period} lists {sorted(extra)}"
    assert checked == 6
