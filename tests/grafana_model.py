"""What Grafana 12 does with an InfluxQL answer, for the tests: series names, variable options, unit ids, matchers.

Each rule is read from Grafana 12.0.2's own code:

- Series names (pkg/tsdb/influxdb/influxql/util/util.go, FormatFrameName and BuildFrameNameFromQuery): without an
  ``alias`` on the target a time series is named ``measurement.column``, followed by `` { tag: value, ... }`` with
  the tags in Go map order, which changes from one answer to the next. With an alias, ``$col``, ``$m`` or
  ``$measurement``, ``$tag_NAME`` and ``$N`` (a segment of the measurement) are replaced; anything else stays.
  The name is the field's ``displayNameFromDS``, which override matchers and legends use.
- Tables (converter.go, handleTableFormatTagFields): one frame with ``Time``, then the tags in Go map order, then
  the value columns.
- Variable options (@grafana/runtime's frameToMetricFindValue, called on the first frame only): the first string
  field of the first frame, or its first field that is not time. A SHOW TAG VALUES frame holds the series' value
  column; a SELECT's first frame is its first series' first column after time.
- Field matchers (@grafana/data nameMatcher.ts): ``byName`` compares with the field's name or display name;
  ``byRegexp`` goes through stringToJsRegex, which anchors a pattern that does not start with a slash as
  ``^pattern$``.
- Units: the ids of @grafana/data 12.0.2's valueFormats/categories (UNIT_IDS).
- Repeated rows (public/app/features/dashboard-scene/scene/layout-default/RowRepeaterBehavior.ts): one row per
  value of the variable; a variable with no value still gives one row, with the value "" and the text "All" if
  the variable has an All option, else "None" (emptyVariablePlaceholderOption).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

Series = dict[str, Any]  # one series of an InfluxDB 1.x answer: name, tags, columns, values

ALIAS_PART = re.compile(r"\$(\w+)|\[\[([\s\S]+?)\]\]")


def frame_names(measurement: str, column: str, tags: dict[str, str], alias: str) -> set[str]:
    """Every name Grafana may give this series' column: one with an alias, one per tag order without."""
    if not alias:
        base = f"{measurement}.{column}"
        if not tags:
            return {base}
        orders = itertools.permutations(sorted(tags.items()))
        return {base + " { " + ", ".join(f"{k}: {v}" for k, v in order) + " }" for order in orders}
    segments = measurement.split(".")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in ("m", "measurement"):
            return measurement
        if name == "col":
            return column
        if name.isdigit() and int(name) < len(segments):
            return segments[int(name)]
        if name.startswith("tag_") and name[4:] in tags:
            return tags[name[4:]]
        return match.group()

    return {ALIAS_PART.sub(replace, alias)}


def series_names(series: list[Series], alias: str) -> list[set[str]]:
    """For each (series, value column): the names Grafana may give it."""
    names: list[set[str]] = []
    for one in series:
        columns = one["columns"]
        start = 1 if columns[0] == "time" else 0
        for column in columns[start:]:
            names.append(frame_names(one["name"], column, one.get("tags") or {}, alias))
    return names


def table_fields(series: list[Series]) -> set[str]:
    """The fields of the table frame Grafana builds from these series."""
    fields: set[str] = set()
    for one in series:
        columns = one["columns"]
        fields |= {"Time" if columns[0] == "time" else columns[0], *(one.get("tags") or {}), *columns[1:]}
    return fields


def metric_find_values(series: list[Series]) -> list[str]:
    """A variable's options: only the first frame counts, and in it the first string (or else non-time) field."""
    if not series or not series[0].get("values"):
        return []
    first = series[0]
    # The first frame is the first series' column after time (SELECT) or its value column (SHOW TAG VALUES,
    # whose frame holds only that column).
    values = [row[1] for row in first["values"]]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


def repeated_rows(values: list[str], include_all: bool) -> list[tuple[str, str]]:
    """The rows Grafana 12 draws for a row repeated over a variable with these values: (value, text) each."""
    if not values:
        return [("", "All" if include_all else "None")]
    return [(value, value) for value in values]


def js_regex(pattern: str) -> re.Pattern[str]:
    """@grafana/data's stringToJsRegex, for the simple patterns dashboards use."""
    if not pattern.startswith("/"):
        return re.compile(f"^{pattern}$")
    match = re.fullmatch(r"/(.*?)/([gimys]*)", pattern)
    assert match, f"{pattern!r} is not a valid regular expression"
    return re.compile(match.group(1), re.I if "i" in match.group(2) else 0)


def field_matcher(matcher: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a field of this display name is matched (the field's own name for InfluxDB series is "Value")."""
    kind, options = matcher["id"], matcher["options"]
    if kind == "byName":
        return lambda name: name == options
    if kind == "byRegexp":
        regex = js_regex(options)
        return lambda name: regex.search(name) is not None
    raise AssertionError(f"matcher {kind} is not checked")


# @grafana/data 12.0.2, dist/esm/valueFormats/categories.mjs: every unit id, in its order.
UNIT_IDS = frozenset({
    "none", "string", "short", "sishort", "percent", "percentunit", "humidity", "dB", "candela", "hex0x", "hex",
    "sci", "locale", "pixel", "accMS2", "accFS2", "accG", "degree", "radian", "grad", "arcmin", "arcsec", "areaM2",
    "areaF2", "areaMI2", "acres", "hectares", "flops", "mflops", "gflops", "tflops", "pflops", "eflops", "zflops",
    "yflops", "ppm", "conppb", "conngm3", "conngNm3", "conμgm3", "conμgNm3", "conmgm3", "conmgNm3", "congm3",
    "congNm3", "conmgdL", "conmmolL", "currencyUSD", "currencyGBP", "currencyEUR", "currencyJPY", "currencyRUB",
    "currencyUAH", "currencyBRL", "currencyDKK", "currencyISK", "currencyNOK", "currencySEK", "currencyCZK",
    "currencyCHF", "currencyPLN", "currencyBTC", "currencymBTC", "currencyμBTC", "currencyZAR", "currencyINR",
    "currencyKRW", "currencyIDR", "currencyPHP", "currencyVND", "currencyTRY", "currencyMYR", "currencyXPF",
    "currencyBGN", "currencyPYG", "currencyUYU", "currencyILS", "bytes", "decbytes", "bits", "decbits", "kbytes",
    "deckbytes", "mbytes", "decmbytes", "gbytes", "decgbytes", "tbytes", "dectbytes", "pbytes", "decpbytes", "pps",
    "binBps", "Bps", "binbps", "bps", "KiBs", "Kibits", "KBs", "Kbits", "MiBs", "Mibits", "MBs", "Mbits", "GiBs",
    "Gibits", "GBs", "Gbits", "TiBs", "Tibits", "TBs", "Tbits", "PiBs", "Pibits", "PBs", "Pbits", "dateTimeAsIso",
    "dateTimeAsIsoNoDateIfToday", "dateTimeAsUS", "dateTimeAsUSNoDateIfToday", "dateTimeAsLocal",
    "dateTimeAsLocalNoDateIfToday", "dateTimeAsSystem", "dateTimeFromNow", "watt", "kwatt", "megwatt", "gwatt",
    "mwatt", "Wm2", "voltamp", "kvoltamp", "voltampreact", "kvoltampreact", "watth", "watthperkg", "kwatth",
    "kwattm", "mwatth", "amph", "kamph", "mamph", "joule", "ev", "amp", "kamp", "mamp", "volt", "kvolt", "mvolt",
    "dBm", "mohm", "ohm", "kohm", "Mohm", "farad", "µfarad", "nfarad", "pfarad", "ffarad", "henry", "mhenry",
    "µhenry", "lumens", "flowgpm", "flowcms", "flowcfs", "flowcfm", "litreh", "flowlpm", "flowmlpm", "lux",
    "forceNm", "forcekNm", "forceN", "forcekN", "Hs", "KHs", "MHs", "GHs", "THs", "PHs", "EHs", "massmg", "massg",
    "masslb", "masskg", "masst", "lengthmm", "lengthin", "lengthft", "lengthm", "lengthkm", "lengthmi",
    "pressurembar", "pressurebar", "pressurekbar", "pressurepa", "pressurehpa", "pressurekpa", "pressurehg",
    "pressurepsi", "radbq", "radci", "radgy", "radrad", "radsv", "radmsv", "radusv", "radrem", "radexpckg", "radr",
    "radsvh", "radmsvh", "radusvh", "rotrpm", "rothz", "rotkhz", "rotmhz", "rotghz", "rotrads", "rotdegs", "celsius",
    "fahrenheit", "kelvin", "hertz", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms",
    "dtdhms", "timeticks", "clockms", "clocks", "cps", "ops", "reqps", "rps", "wps", "iops", "eps", "mps", "recps",
    "rowsps", "cpm", "opm", "reqpm", "rpm", "wpm", "epm", "mpm", "recpm", "rowspm", "velocityms", "velocitykmh",
    "velocitymph", "velocityknot", "mlitre", "litre", "m3", "Nm3", "dm3", "gallons", "bool", "bool_yes_no",
    "bool_on_off",
})  # fmt: skip
