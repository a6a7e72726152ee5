"""The Grafana dashboards in dashboards/: their structure, and every query proven against Debian's influxd.

Grafana is not in Debian and cannot be fetched here, so its part is played by this module: it substitutes each raw
InfluxQL query's variables and macros the way Grafana 11/12 does for an InfluxQL data source in proxy mode, then runs
it against a real influxd holding two hours of Telegraf-shaped data (tests/telegraf_data.py).

How Grafana 11/12 turns a raw InfluxQL target into a query (public/app/plugins/datasource/influxdb/datasource.ts,
pkg/tsdb/influxdb/models/query.go):

1. In the browser, dashboard variables are replaced (``$host``, ``${host}``, ``[[host]]``) with the data source's
   ``interpolateQueryExpr``. For a multi-value variable the selected values are regex-escaped (@grafana/data's
   escapeRegex: ``\\^$*+?.()|[]{}/``) and joined as ``(a|b)``, even when only one is selected; "All" without a custom
   all value means every option. Inside a repeated row the variable has the row's single value, escaped unless
   parseFloat reads a number from its start. ``$__interval``, ``$__interval_ms`` and ``$timeFilter`` are left for
   the backend.
2. The backend replaces, in this order, ``$timeFilter`` with ``time >= <from>ms and time <= <to>ms`` (epoch
   milliseconds, both bounds), ``$interval`` and ``$__interval`` with the interval as Go's gtime.FormatInterval
   writes it (``5s``, ``20s``, ``1m``) and ``$__interval_ms`` with its milliseconds.
3. The interval is the time range divided by the panel's width in pixels, rounded by rangeutil.roundInterval.

Older Grafana (and the browser-side path before the backend migration) wrote ``$timeFilter`` relative to now
(``time >= now() - 2h and time <= now()``); every query is run in both forms.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from madash.site.features import FEATURES
from tests.grafana_model import metric_find_values, repeated_rows
from tests.servers import Influxd
from tests.telegraf_data import BAKED_RP, DURATION_S, FEATURE_PLUGINS, HOSTS, PROBE, Dataset, generate

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "dashboards"
DATABASE = "telegraf"
DATASOURCE = {"type": "influxdb", "uid": "madash-influxdb"}
# Stable uids: Grafana keys a provisioned dashboard's URL and its users' stars on them.
UIDS = {
    "fleet.json": "madash-fleet",
    "host.json": "madash-host",
    "internet.json": "madash-internet",
    "smart.json": "madash-smart",
}
PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "state-timeline", "text", "row", "alertlist"}
NO_QUERY_TYPES = {"row", "text", "alertlist"}
# Grafana 12's alert list (public/app/plugins/panel/alertlist/panelcfg.cue, UnifiedAlertListOptions): the options it
# reads; Grafana ignores any other key silently.
ALERTLIST_OPTIONS = {
    "maxItems", "sortOrder", "dashboardAlerts", "groupMode", "groupBy", "alertName", "showInstances", "stateFilter",
    "folder", "alertInstanceLabelFilter", "datasource", "viewMode",
}  # fmt: skip
ALERTLIST_STATES = {"firing", "pending", "noData", "normal", "error", "recovering"}
DASHBOARD_WIDTH_PX = 1600  # a common screen; only the interval depends on it

Json = dict[str, Any]


def load(path: Path) -> Json:
    data: Json = json.loads(path.read_text())
    return data


DASHBOARDS = {path.name: load(path) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(dashboard: Json) -> Iterator[Json]:
    for panel in dashboard["panels"]:
        yield panel
        # A collapsed row keeps its panels inside itself.
        yield from panel.get("panels", [])


def variables(dashboard: Json) -> list[Json]:
    result: list[Json] = dashboard["templating"]["list"]
    return result


# --- structure --------------------------------------------------------------------------------------------------


def test_the_three_dashboards_are_there() -> None:
    assert set(DASHBOARDS) == set(UIDS)
    assert not (DASHBOARD_DIR / ".keep").exists()


@pytest.mark.parametrize("name", sorted(UIDS))
def test_dashboard_structure(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["uid"] == UIDS[name]
    assert dashboard["title"] and dashboard["description"]
    assert "madash" in dashboard["tags"]
    assert 39 <= dashboard["schemaVersion"] <= 41
    assert dashboard.get("id") is None, "a provisioned dashboard must not carry a database id"
    assert "__requires" not in dashboard and "__inputs" not in dashboard, "an export with plugin requirements"
    ids: set[int] = set()
    for panel in panels(dashboard):
        where = f"{name}: panel {panel.get('id')} {panel.get('title')!r}"
        assert panel["type"] in PANEL_TYPES, f"{where}: type {panel['type']} (Angular or a plugin to download?)"
        assert "libraryPanel" not in panel, where
        assert isinstance(panel["id"], int) and panel["id"] not in ids, f"{where}: duplicate id"
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), where
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, where
        assert grid["x"] + grid["w"] <= 24, f"{where}: wider than the grid"
        if panel["type"] == "alertlist":
            # Grafana's own alert state: no data source, no query.
            options = panel["options"]
            assert "datasource" not in panel and "targets" not in panel, where
            assert set(options) <= ALERTLIST_OPTIONS and set(options["stateFilter"]) <= ALERTLIST_STATES, where
            assert options["groupMode"] == "custom" and options["viewMode"] in ("list", "stat"), where
            continue
        assert panel.get("datasource") == DATASOURCE, f"{where}: datasource {panel.get('datasource')}"
        if panel["type"] in NO_QUERY_TYPES:
            continue
        assert panel["title"], where
        assert panel["targets"], f"{where}: no query"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: duplicate refId"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, f"{where} {target['refId']}: datasource"
            assert target.get("rawQuery") is True and target["query"].strip(), f"{where} {target['refId']}: raw query"
            assert target.get("resultFormat") in ("time_series", "table"), where
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"


@pytest.mark.parametrize("name", sorted(UIDS))
def test_panels_do_not_overlap(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARDS[name]["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{name}: {panel['title']!r} overlaps {other!r}"


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


def test_each_dashboard_links_the_others() -> None:
    for name, dashboard in DASHBOARDS.items():
        reached: set[str] = set()
        for link in dashboard["links"]:
            if link["type"] == "dashboards":
                wanted = set(link.get("tags", []))
                reached |= {d["uid"] for d in DASHBOARDS.values() if wanted <= set(d["tags"])}
            else:
                reached |= {d["uid"] for d in DASHBOARDS.values() if f"/d/{d['uid']}" in link.get("url", "")}
        missing = {d["uid"] for d in DASHBOARDS.values()} - reached - {dashboard["uid"]}
        assert not missing, f"{name} has no link to {sorted(missing)}"


VARIABLE_REF = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
BUILTINS = {"timeFilter", "interval", "__interval", "__interval_ms"}


def referenced(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE_REF.finditer(text)} - BUILTINS


@pytest.mark.parametrize("name", sorted(UIDS))
def test_variables(name: str) -> None:
    dashboard = DASHBOARDS[name]
    defined: list[str] = []
    for variable in variables(dashboard):
        where = f"{name}: variable {variable.get('name')}"
        assert re.fullmatch(r"[a-z_]+", variable["name"]), where
        if variable["type"] == "custom":
            # A period chosen in the dashboard: one value, inserted as it is.
            choices = [o["value"] for o in variable["options"]]
            assert choices == variable["query"].split(","), where
            assert variable["current"]["value"] in choices and not variable["multi"] and not variable["includeAll"]
            assert all(re.fullmatch(r"\d+[hdw]", c) for c in choices), f"{where}: not InfluxQL durations"
            defined.append(variable["name"])
            continue
        assert variable["type"] == "query", where
        assert variable["datasource"] == DATASOURCE, where
        assert variable["query"].strip().upper().startswith(("SHOW TAG VALUES", "SELECT")), where
        assert variable["refresh"] in (1, 2), f"{where}: must refresh on load or on time change"
        if variable["multi"]:
            assert variable["includeAll"] is True, where
            assert variable["current"]["value"] == ["$__all"], f"{where}: all by default"
        else:
            # One value at a time: Grafana shows the first until one is chosen.
            assert variable["includeAll"] is False and not variable.get("current", {}).get("value"), where
        # A variable may only use the ones before it: Grafana resolves them in order.
        assert referenced(variable["query"]) <= set(defined), where
        defined.append(variable["name"])
    assert len(defined) == len(set(defined))
    used: set[str] = set()
    for panel in panels(dashboard):
        if "repeat" in panel:
            assert panel["repeat"] in defined, f"{name}: repeat over unknown variable {panel['repeat']}"
            assert f"${panel['repeat']}" in panel["title"], f"{name}: a repeated row should be titled by its value"
            used.add(panel["repeat"])
        for target in panel.get("targets", []):
            refs = referenced(target["query"])
            assert refs <= set(defined), f"{name}: {panel['title']!r} uses undefined {sorted(refs - set(defined))}"
            used |= refs
    for variable in variables(dashboard):
        used |= referenced(variable["query"])
    assert set(defined) <= used, f"{name}: unused variables {sorted(set(defined) - used)}"


def test_fleet_lists_every_host_and_links_each_to_its_host_dashboard() -> None:
    fleet = DASHBOARDS["fleet.json"]
    [host] = [v for v in variables(fleet) if v["name"] == "host"]
    assert host["multi"] and host["includeAll"]
    assert not any(p.get("repeat") for p in panels(fleet)), "the fleet is one screen, not a row per host"
    links: list[str] = []
    for panel in panels(fleet):
        links += [link["url"] for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            links += [link["url"] for prop in override["properties"] if prop["id"] == "links" for link in prop["value"]]
    assert len(links) >= 5
    for url in links:
        # The host's own dashboard by uid, the clicked host chosen, the time range kept.
        assert url.startswith(f"/d/{UIDS['host.json']}/") and "var-host=${__" in url and "${__url_time_range}" in url


def test_host_dashboard_shows_one_host_and_each_feature_in_its_own_collapsed_row(dataset: Dataset) -> None:
    host = DASHBOARDS["host.json"]
    [variable] = [v for v in variables(host) if v["name"] == "host"]
    assert not variable["multi"] and not variable["includeAll"]
    rows = [p for p in host["panels"] if p["type"] == "row"]
    # Only the feature rows repeat, each over its own host-or-nothing variable: never a row per host.
    repeats = {r["title"]: r.get("repeat") for r in rows if r.get("repeat")}
    assert repeats and all(re.search(r"\(\w+ feature\)", title) for title in repeats)
    assert all(v["name"] != "host" for v in variables(host) if v["name"] in repeats.values())
    assert not rows[0]["collapsed"] and all(r["collapsed"] for r in rows[1:])
    # Only the open row queries when the dashboard loads: 9 panels, not 37 per host.
    assert len([p for p in host["panels"] if p["type"] != "row"]) <= 10
    for row in rows[1:]:
        feature = re.search(r"\((\w+) feature\)", row["title"])
        if feature is None:
            continue
        read = set().union(*(uses(t["query"]).measurements for p in row["panels"] for t in p["targets"]))
        assert read <= dataset.features[feature.group(1)], f"{row['title']} reads {sorted(read)}"
    smart = DASHBOARDS["smart.json"]
    assert {v["name"]: v["multi"] for v in variables(smart) if v["type"] == "query"} == {"host": False, "device": True}
    assert [r["repeat"] for r in smart["panels"] if r["type"] == "row"] == ["device"]


# --- InfluxQL: a small tokenizer, enough to find measurements, fields and tags --------------------------------------

KEYWORDS = {
    "select", "from", "where", "and", "or", "not", "group", "by", "fill", "none", "null", "previous", "linear", "as",
    "order", "asc", "desc", "limit", "offset", "slimit", "soffset", "show", "tag", "values", "keys", "field",
    "measurements", "with", "key", "in", "tz", "true", "false", "time",
}  # fmt: skip
FUNCTIONS = {
    "mean", "median", "mode", "spread", "stddev", "sum", "count", "distinct", "integral", "first", "last", "max",
    "min", "percentile", "derivative", "non_negative_derivative", "difference", "non_negative_difference",
    "moving_average", "cumulative_sum", "elapsed", "abs", "round", "floor", "ceil", "now", "time",
}  # fmt: skip


@dataclass
class Token:
    kind: str  # word, ident, string, regex, number, duration, macro, op
    text: str


TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<ident>"(?:[^"\\]|\\.)*")
    |(?P<macro>\$\w+|\$\{[^}]*\}|\[\[\w+(?::\w+)?\]\])
    |(?P<duration>\d+(?:ns|ms|u|µ|s|m|h|d|w)\b)
    |(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    |(?P<word>[A-Za-z_]\w*)
    |(?P<op>=~|!~|<>|!=|>=|<=|[-+*%=<>(),;.&|^/])""",
    re.X,
)
REGEX_LITERAL = re.compile(r"/(?:[^/\\]|\\.)*/")


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        previous = tokens[-1] if tokens else None
        # A slash opens a regex only where InfluxQL expects one; elsewhere it divides.
        if query[pos] == "/" and previous and (previous.text in ("=~", "!~") or previous.text.lower() == "from"):
            m = REGEX_LITERAL.match(query, pos)
            assert m, f"unterminated regex at {pos} in {query}"
            tokens.append(Token("regex", m.group()))
            pos = m.end()
            continue
        m = TOKEN.match(query, pos)
        assert m, f"cannot tokenize {query[pos:]!r}"
        assert m.lastgroup is not None
        if m.lastgroup != "ws":
            tokens.append(Token(m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"')


@dataclass
class Uses:
    measurements: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def uses(query: str) -> Uses:
    result = Uses()
    tokens = tokenize(query)
    in_from = False  # inside a FROM list: FROM "a", "b"
    for index, token in enumerate(tokens):
        previous = tokens[index - 1].text.lower() if index else ""
        following = tokens[index + 1].text if index + 1 < len(tokens) else ""
        if token.kind == "ident":
            name = unquote(token.text)
            if in_from and following == ".":
                continue  # a retention policy: "policy"."measurement"
            if previous == "as":
                result.aliases.add(name)
            elif in_from:
                result.measurements.add(name)
            else:
                result.identifiers.add(name)
            continue
        if token.kind == "op" and token.text in (",", ".") and in_from:
            continue
        if token.kind == "regex" and in_from:
            result.problems.append("a regex measurement: name measurements so that they can be checked")
        in_from = token.kind == "word" and token.text.lower() == "from"
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in KEYWORDS:
                continue
            if following == "(":
                if lowered not in FUNCTIONS:
                    result.problems.append(f"unknown function {token.text}")
            else:
                result.problems.append(
                    f"unquoted identifier {token.text}: quote identifiers so that they can be checked"
                )
    return result


# Fields whose panels need a given unit and warning thresholds: (unit, the value at which the panel turns red).
THRESHOLDS = {
    "used_percent": ("percent", 90),  # disk: red from 90 %; mem and swap warn too, on their own scale
    "percent_packet_loss": ("percent", None),
    "temp_input": ("celsius", None),
    "temp_c": ("celsius", None),
    "temperature_gpu": ("celsius", None),
}


def test_thresholds_and_units() -> None:
    checked: set[str] = set()
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            if panel["type"] in NO_QUERY_TYPES:
                continue
            found = set().union(*(uses(t["query"]).identifiers for t in panel["targets"]))
            defaults = panel["fieldConfig"]["defaults"]
            steps = defaults.get("thresholds", {}).get("steps", [])
            for field_name in found & set(THRESHOLDS):
                if panel["type"] == "table":
                    continue  # checked through its overrides below
                unit, red = THRESHOLDS[field_name]
                where = f"{name}: {panel['title']!r} ({field_name})"
                assert defaults["unit"] == unit, f"{where}: unit {defaults['unit']}"
                assert len(steps) >= 2, f"{where}: no warning thresholds"
                if red is not None and "disk" in {m for t in panel["targets"] for m in uses(t["query"]).measurements}:
                    assert {"color": "red", "value": red} in steps, f"{where}: disk not red above {red} %"
                checked.add(field_name)
    assert checked == set(THRESHOLDS), f"no panel checked for {sorted(set(THRESHOLDS) - checked)}"


# --- the data set in a real influxd -----------------------------------------------------------------------------


@dataclass
class Store:
    influx: Influxd
    dataset: Dataset
    write_seconds: float


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(int(time.time()))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, dataset: Dataset) -> Iterator[Store]:
    with Influxd(tmp_path_factory.mktemp("influx-dashboards"), auth=False) as influx:
        started = time.monotonic()
        write_dataset(influx, dataset)
        yield Store(influx, dataset, time.monotonic() - started)


def write_dataset(influx: Influxd, dataset: Dataset, extra: tuple[str, ...] = ()) -> None:
    """The database and its policies as ensure-influxdb makes them, the Telegraf data and the baked list."""
    influx.query(f"CREATE DATABASE {DATABASE}")
    influx.query(f'CREATE RETENTION POLICY "{BAKED_RP}" ON "{DATABASE}" DURATION INF REPLICATION 1')
    for chunk in [*dataset.chunks(), *extra]:
        status = influx.write(chunk, db=DATABASE, user=None, password=None)
        assert status == 204, f"influxd refused the data set ({status})"
    assert influx.write("\n".join(dataset.baked) + "\n", db=DATABASE, user=None, password=None, rp=BAKED_RP) == 204


# --- Grafana's substitution -------------------------------------------------------------------------------------

ROUND_STEPS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000), (7500, 5000),
    (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000),
    (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
    (5400000, 3600000), (9000000, 7200000),
)  # fmt: skip


def round_interval(ms: float) -> int:
    """Grafana's rangeutil.roundInterval (@grafana/data)."""
    for limit, value in ROUND_STEPS:
        if ms < limit:
            return value
    return 7200000


def format_interval(ms: int) -> str:
    """Grafana's gtime.FormatInterval (grafana-plugin-sdk-go)."""
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{max(ms, 1)}ms"


def escape_regex(value: str) -> str:
    """@grafana/data's escapeRegex, which interpolateQueryExpr applies to multi-value variables."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(), value)


JS_NUMBER_PREFIX = re.compile(r"\s*[+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")


def interpolate(query: str, values: dict[str, list[str] | str]) -> str:
    """templateSrv.replace with the InfluxDB data source's interpolateQueryExpr for multi-value variables.

    A single value (a repeated row's) is escaped unless JavaScript's parseFloat reads a number from its start; a
    list of values (the dashboard's selection, "All" meaning every option) becomes ``(a|b)``, each escaped.
    """

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            return match.group()
        value = values[name]
        if isinstance(value, str):
            return value if JS_NUMBER_PREFIX.match(value) else escape_regex(value)
        return "(" + "|".join(escape_regex(v) for v in value) + ")"

    return VARIABLE_REF.sub(replace, query)


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int
    relative: bool

    def filter(self) -> str:
        if self.relative:
            return f"time >= now() - {(self.to_ms - self.from_ms) // 1000}s and time <= now()"
        return f"time >= {self.from_ms}ms and time <= {self.to_ms}ms"


def backend_macros(query: str, time_range: TimeRange, interval_ms: int) -> str:
    """pkg/tsdb/influxdb/models/query.go Build(): the same replacements in the same order."""
    text = format_interval(interval_ms)
    query = query.replace("$timeFilter", time_range.filter())
    query = query.replace("$interval", text)
    query = query.replace("$__interval_ms", str(interval_ms))
    return query.replace("$__interval", text)


def ranges(dataset: Dataset) -> list[TimeRange]:
    # Up to now (data ends a moment ago), back over the data set's two hours and a little more.
    to_ms = int(time.time() * 1000)
    from_ms = (dataset.start_s - 60) * 1000
    return [TimeRange(from_ms, to_ms, relative=False), TimeRange(from_ms, to_ms, relative=True)]


@dataclass(frozen=True)
class Outcome:
    error: str | None
    series: int  # series with at least one value
    kinds: frozenset[str]  # Python types of the values in the non-time columns


def run(store: Store, query: str) -> Outcome:
    answer = store.influx.query(query, db=DATABASE)
    [result] = answer["results"]
    if "error" in result:
        return Outcome(str(result["error"]), 0, frozenset())
    series = [s for s in result.get("series", []) if s.get("values")]
    kinds = {type(v).__name__ for s in series for row in s["values"] for v in row[1:] if v is not None}
    return Outcome(None, len(series), frozenset(kinds))


Options = dict[str, list[str] | str]


def variable_options(
    store: Store, dashboard: Json, time_range: TimeRange, chosen: dict[str, str] | None = None
) -> Options:
    """Resolve the variables in order, each with the ones before it at their default (All, or a custom variable's
    current value unless ``chosen``), keeping what Grafana keeps of each answer: its first frame only."""
    options: Options = {}
    for variable in variables(dashboard):
        if variable["type"] == "custom":
            options[variable["name"]] = (chosen or {}).get(variable["name"], variable["current"]["value"])
            continue
        if variable["name"] in (chosen or {}):
            options[variable["name"]] = (chosen or {})[variable["name"]]
            continue
        query = backend_macros(interpolate(variable["query"], options), time_range, 1000)
        answer = store.influx.query(query, db=DATABASE)
        [result] = answer["results"]
        assert "error" not in result, f"variable {variable['name']}: {result['error']}\n{query}"
        found = sorted(set(metric_find_values(result.get("series", []))))
        # A single-value variable starts at its first option.
        options[variable["name"]] = found if variable["multi"] else (found[0] if found else "")
    return options


def single_variables(dashboard: Json) -> list[str]:
    # A hidden one (a feature row's) follows from the host: it is not chosen.
    return [v["name"] for v in variables(dashboard) if v["type"] == "query" and not v["multi"] and not v.get("hide")]


def panel_contexts(
    store: Store, dashboard: Json, time_range: TimeRange, repeat: str | None
) -> list[tuple[str, Options]]:
    """Every value a panel's query takes: each option of a single-value variable (the host of a Host dashboard),
    then each value of the row it repeats in, resolved the way Grafana resolves them."""
    singles = single_variables(dashboard)
    options = variable_options(store, dashboard, time_range)
    chosen: list[tuple[str, Options]] = [("all", options)]
    if singles:
        [name] = singles
        everything = sorted(set(all_options(store, dashboard, time_range, name)))
        chosen = [(f"{name}={v}", variable_options(store, dashboard, time_range, {name: v})) for v in everything]
    if repeat is None:
        return chosen
    result: list[tuple[str, Options]] = []
    [variable] = [v for v in variables(dashboard) if v["name"] == repeat]
    for label, values in chosen:
        prefix = "" if label == "all" else f"{label}, "
        value = values[repeat]
        found = value if isinstance(value, list) else [value] if value else []
        rows = repeated_rows(found, variable["includeAll"])
        result += [(f"{prefix}{repeat}={v}", values | {repeat: v}) for v, _ in rows]
    return result


def all_options(store: Store, dashboard: Json, time_range: TimeRange, name: str, silent: str = "1d") -> list[str]:
    """Every option a variable offers (a single-value variable shows one of them at a time)."""
    [variable] = [v for v in variables(dashboard) if v["name"] == name]
    earlier = variable_options(store, dashboard, time_range, {"silent": silent})
    query = backend_macros(interpolate(variable["query"], earlier), time_range, 1000)
    [result] = store.influx.query(query, db=DATABASE)["results"]
    return metric_find_values(result.get("series", []))


def panel_rows(dashboard: Json) -> dict[int, str | None]:
    """Each panel's repeat variable: that of the row above it, if that row repeats."""
    repeat_of: dict[int, str | None] = {}
    current: str | None = None
    for panel in sorted(dashboard["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        if panel["type"] == "row":
            current = panel.get("repeat")
            # A collapsed row holds its panels.
            repeat_of |= dict.fromkeys((inner["id"] for inner in panel.get("panels", [])), current)
            continue
        repeat_of[panel["id"]] = current
    return repeat_of


@dataclass
class QueryRun:
    panel_id: int
    panel: str
    ref: str
    context: str
    query: str
    error: str | None
    series: int
    kinds: frozenset[str]


def feature_of(dataset: Dataset, query: str) -> set[str]:
    measurements = uses(query).measurements
    return {feature for feature, names in dataset.features.items() if measurements & names}


HOST_FEATURES = {s.host: ({"base"} if s.base else set()) | set(s.features) for s in (*HOSTS, PROBE)}


@pytest.mark.parametrize("name", sorted(UIDS))
def test_every_query_returns_data(store: Store, name: str) -> None:
    dashboard = DASHBOARDS[name]
    started = time.monotonic()
    repeat_of = panel_rows(dashboard)
    runs: list[QueryRun] = []
    invisible: list[str] = []
    for time_range in ranges(store.dataset):
        options = variable_options(store, dashboard, time_range)
        # A feature row's variable is empty for a host without the feature: that is what it tells.
        repeated = {p["repeat"] for p in panels(dashboard) if p.get("repeat")} - {"device"}
        for variable, found in options.items():
            assert found or variable in repeated, f"{name}: variable {variable} has no values"
        contexts_of = {
            repeat: panel_contexts(store, dashboard, time_range, repeat)
            for repeat in set(panel_rows(dashboard).values())
        }
        for panel in panels(dashboard):
            if panel["type"] in NO_QUERY_TYPES:
                continue
            width_px = panel["gridPos"]["w"] * DASHBOARD_WIDTH_PX // 24
            interval_ms = round_interval((time_range.to_ms - time_range.from_ms) / width_px)
            contexts = contexts_of[repeat_of[panel["id"]]]
            for target in panel["targets"]:
                for label, values in contexts:
                    query = backend_macros(interpolate(target["query"], values), time_range, interval_ms)
                    outcome = run(store, query)
                    form = "relative" if time_range.relative else "absolute"
                    context = f"{label}, {form} range, {format_interval(interval_ms)}"
                    run_ = QueryRun(panel["id"], panel["title"], target["refId"], context, query, *astuple(outcome))
                    runs.append(run_)
                    shown = shows(panel, outcome.kinds)
                    if shown:
                        invisible.append(f"{panel['title']} {target['refId']}: {shown}")
    elapsed = time.monotonic() - started
    errors = [f"{r.panel} {r.ref} [{r.context}]: {r.error}\n    {r.query}" for r in runs if r.error]
    assert not errors, f"{name}: {len(errors)} queries failed:\n" + "\n".join(errors)
    assert not invisible, f"{name}: values the panel would not show:\n" + "\n".join(sorted(set(invisible)))
    by_target: dict[tuple[int, str], list[QueryRun]] = {}
    for r in runs:
        by_target.setdefault((r.panel_id, r.ref), []).append(r)
    empty = [f"{g[0].panel} {g[0].ref}: {g[0].query}" for g in by_target.values() if not any(r.series for r in g)]
    assert not empty, f"{name}: queries without data in any context:\n" + "\n".join(empty)
    # For one host: its own features show data, a feature it lacks shows a quiet "No data". Per drive (a row per
    # device), what a drive reports depends on its kind (NVMe or ATA): a feature's panel shows data on some drive.
    wrong: list[str] = []
    per_host: dict[tuple[str, str, str], list[QueryRun]] = {}
    for r in runs:
        if r.context.startswith("host="):
            per_host.setdefault((r.panel, r.ref, r.context.split(",")[0].removeprefix("host=")), []).append(r)
    for (title, ref, host), group in per_host.items():
        needs = feature_of(store.dataset, group[0].query)
        has = needs <= HOST_FEATURES[host]
        by_device = all(", device=" in r.context for r in group)
        if has and not any(r.series for r in group) and not by_device:
            wrong.append(f"{title} {ref} shows no data for {host}, which has {sorted(needs)}")
    for r in runs:
        if not r.context.startswith("host="):
            continue
        host = r.context.split(",")[0].removeprefix("host=")
        needs = feature_of(store.dataset, r.query)
        has = needs <= HOST_FEATURES[host]
        if not has and r.series:
            wrong.append(f"{r.panel} {r.ref} shows data for {host}, which lacks {sorted(needs - HOST_FEATURES[host])}")
    assert not wrong, "\n".join(sorted(set(wrong)))
    print(f"\n{name}: {len(by_target)} queries, {len(runs)} runs in {elapsed:.2f} s", end=" ")
    print(f"(data set written in {store.write_seconds:.2f} s)")


def shows(panel: Json, kinds: frozenset[str]) -> str:
    """Why Grafana would not show values of these types in this panel, or an empty string."""
    other = kinds - {"int", "float"}
    if not other:
        return ""
    if panel["type"] == "timeseries":
        return f"a time series cannot draw {sorted(other)} values"
    if panel["type"] in ("stat", "gauge", "bargauge"):
        # Without a field selection these panels show numeric fields only (fieldDisplay.ts, the numeric matcher).
        pattern = panel["options"]["reduceOptions"].get("fields", "")
        if not pattern:
            return f"{sorted(other)} values, but the panel shows numeric fields only"
        regex = re.compile(pattern[1:-1] if pattern.startswith("/") else f"^{pattern}$")
        if regex.search("Time"):
            return f"the field selection {pattern} would show the time column too"
    return ""


def test_device_rows_show_each_device(store: Store) -> None:
    dashboard = DASHBOARDS["smart.json"]
    [time_range, _] = ranges(store.dataset)
    assert variable_options(store, dashboard, time_range)["host"] == "db-01", "the first host until one is chosen"
    health = next(p for p in panels(dashboard) if p["title"] == "Health")
    seen: dict[str, list[str]] = {}
    # One host at a time: each row is one drive of that host, never the same name on two hosts.
    for host in sorted(s.host for s in HOSTS):
        options = variable_options(store, dashboard, time_range, {"host": host})
        seen[host] = list(options["device"])
        for device in options["device"]:
            query = backend_macros(
                interpolate(health["targets"][0]["query"], {**options, "device": device}), time_range, 5000
            )
            outcome = run(store, query)
            assert outcome.error is None and outcome.series == 1, (host, device, query)
            assert outcome.kinds == {"bool"}
    assert seen == {"db-01": ["sda"], "ws.example.org": ["nvme0", "sda"]}


def test_feature_rows_say_whether_the_host_has_the_feature(store: Store) -> None:
    """Each feature row repeats over a variable that holds the host only when the feature's measurement has data
    for it in the time range: Grafana then draws the row titled with the host, or (no value) once, titled "None",
    whose panels find nothing."""
    dashboard = DASHBOARDS["host.json"]
    [time_range, _] = ranges(store.dataset)
    rows = [p for p in dashboard["panels"] if p["type"] == "row" and p.get("repeat")]
    shown: dict[str, list[str]] = {}
    for host in sorted(s.host for s in HOSTS):
        options = variable_options(store, dashboard, time_range, {"host": host})
        for row in rows:
            variable = next(v for v in variables(dashboard) if v["name"] == row["repeat"])
            value = options[row["repeat"]]
            for _, text in repeated_rows([value] if isinstance(value, str) and value else [], variable["includeAll"]):
                shown.setdefault(host, []).append(interpolate(row["title"], {row["repeat"]: text}).replace("\\", ""))
    assert shown == {
        "db-01": ["GPU (nvidia feature) on None", "Docker (docker feature) on db-01", "UPS (ups feature) on None",
                  "Sensors (sensors feature) on None"],
        "ws.example.org": ["GPU (nvidia feature) on ws.example.org", "Docker (docker feature) on ws.example.org",
                           "UPS (ups feature) on ws.example.org", "Sensors (sensors feature) on ws.example.org"],
    }  # fmt: skip


def test_variables_list_the_generated_hosts(store: Store) -> None:
    [time_range, _] = ranges(store.dataset)
    assert variable_options(store, DASHBOARDS["fleet.json"], time_range) == {
        "silent": "1d",
        "host": sorted(s.host for s in HOSTS),
        # What each host ran last: db-01 its upgrade, ws.example.org the older package.
        "running": ["madash-client-db-01=20261201.120000", "madash-client-ws.example.org=20261120.090000"],
    }
    assert variable_options(store, DASHBOARDS["host.json"], time_range) == {
        "silent": "1d",
        "host": "db-01",
        # The feature rows' variables: db-01 has docker only.
        **{"gpu_host": "", "docker_host": "db-01", "ups_host": "", "sensors_host": ""},
    }
    assert all_options(store, DASHBOARDS["host.json"], time_range, "host") == sorted(s.host for s in HOSTS)
    # One variable per probe kind: a query over several measurements would keep only the first one's hosts.
    probes = sorted(s.host for s in (*HOSTS, PROBE) if "internet" in s.features)
    internet = variable_options(store, DASHBOARDS["internet.json"], time_range)
    assert internet == {"silent": "1d", "ping_host": probes, "http_host": probes, "dns_host": probes}


# --- consistency with what the features produce -----------------------------------------------------------------


def all_queries() -> Iterator[tuple[str, str, str]]:
    for name, dashboard in DASHBOARDS.items():
        for variable in variables(dashboard):
            yield name, f"variable {variable['name']}", variable["query"]
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield name, f"{panel['title']} {target['refId']}", target["query"]


def test_dashboards_query_only_what_features_produce(dataset: Dataset) -> None:
    problems: list[str] = []
    for name, where, query in all_queries():
        found = uses(query)
        problems += [f"{name} {where}: {p}" for p in found.problems]
        unknown = found.measurements - set(dataset.schema)
        problems += [f"{name} {where}: measurement {m!r} is produced by no madash feature" for m in sorted(unknown)]
        known = found.measurements & set(dataset.schema)
        names = set().union(*(set(dataset.schema[m].fields) | dataset.schema[m].tags for m in known))
        for identifier in sorted(found.identifiers - names - found.aliases):
            problems.append(f"{name} {where}: {identifier!r} is no field or tag of {sorted(found.measurements)}")
    assert not problems, "\n".join(problems)


def test_every_produced_measurement_is_on_a_dashboard(dataset: Dataset) -> None:
    shown = set().union(*(uses(query).measurements for _, _, query in all_queries()))
    missing = {m: dataset.schema[m].plugin for m in set(dataset.schema) - shown}
    assert not missing, "measurements on no dashboard: " + ", ".join(f"{m} ({p})" for m, p in sorted(missing.items()))


def test_data_set_matches_the_telegraf_templates(dataset: Dataset) -> None:
    """The generator runs the plugins madash's templates enable, with the options its data assumes."""
    inputs = ROOT / "conf" / "telegraf" / "inputs"
    assert set(FEATURE_PLUGINS) == {"base", *FEATURES}
    for feature, plugins in FEATURE_PLUGINS.items():
        template = inputs / f"{feature}.conf.j2"
        text = template.read_text() if template.exists() else ""
        found = tuple(re.findall(r"^\[\[inputs\.(\w+)\]\]", text, re.M))
        assert found == plugins, feature
    base = (inputs / "base.conf.j2").read_text()
    assert re.search(r"report_active = true", base), "usage_active needs cpu report_active"
    assert re.search(r'interface = \["all", "lo", "veth\*"\]', base), "the data set has no net interface=all series"
    assert re.search(r"attributes = true", (inputs / "smart.conf.j2").read_text()), "smart_attribute needs attributes"
    assert re.search(r'method = "native"', (inputs / "internet.conf.j2").read_text())
    probe = (ROOT / "conf" / "telegraf" / "probe.conf.j2").read_text()
    assert 'hostname = "madash-probe"' in probe and '"conf/telegraf/inputs/internet.conf.j2"' in probe
    assert PROBE.host == "madash-probe"
    # Where Telegraf's documentation says tag, the data set has a tag.
    assert {"name", "id", "flags", "fail"} <= dataset.schema["smart_attribute"].tags
    assert "status" in dataset.schema["apcupsd"].tags and "status" not in dataset.schema["apcupsd"].fields
    assert dataset.schema["smart_device"].fields["health_ok"] == "boolean"
    assert dataset.end_s - dataset.start_s == DURATION_S - 10
