"""A madash dashboard: the settings every one shares, its variables and its links to the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard

from dashboards.influx import DATASOURCE
from dashboards.panels import Item, layout

SILENT_CHOICES = ("1h", "6h", "1d", "7d", "30d")


@dataclass(frozen=True)
class Hosts:
    """A multi-value host variable listing the hosts heard from within $silent.

    One measurement per query: Grafana keeps only the first frame of a variable query's answer. SHOW TAG VALUES
    ignores time, so the hosts come from a SELECT over the period, the host column first."""

    name: str
    label: str
    measurement: str
    field: str
    # One host at a time (Grafana then shows the first until one is chosen), or any number, all by default.
    single: bool = False

    def build(self) -> board.QueryVariable:
        # Names from this module only, never from input.
        query = (
            f'SELECT "host", "points" FROM (SELECT count("{self.field}") AS "points" FROM "{self.measurement}" '  # noqa: S608
            'WHERE time > now() - $silent GROUP BY "host")'
        )
        variable = board.QueryVariable(self.name).label(self.label).query(query)
        if self.single:
            return settings(variable).multi(False).include_all(False)
        return multi(variable)


@dataclass(frozen=True)
class Running:
    """A hidden variable: the package each host heard from within $silent last ran (its madash_package tag),
    all of them selected, so that a query can leave out the baked packages that run."""

    name: str

    def build(self) -> board.QueryVariable:
        query = (
            'SELECT "package" FROM (SELECT last("uptime") AS "uptime", "madash_package" AS "package" FROM "system" '
            'WHERE time > now() - $silent GROUP BY "host") WHERE "package" =~ /./'
        )
        variable = multi(board.QueryVariable(self.name).label("Packages running").query(query))
        return variable.hide(dashboard.VariableHide.HIDE_VARIABLE)


@dataclass(frozen=True)
class FeatureHost:
    """A hidden variable for a feature's row to repeat over: the chosen host when its measurement has data in
    the time range, else nothing. Grafana 12 cannot drop a row repeated over no value (RowRepeaterBehavior draws
    it once with the placeholder text "None"), so the row's title says whether the host has the feature."""

    name: str
    measurement: str
    field: str

    def build(self) -> board.QueryVariable:
        # Names from this module only, never from input.
        query = (
            f'SELECT "host", "points" FROM (SELECT count("{self.field}") AS "points" FROM "{self.measurement}" '  # noqa: S608
            'WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY "host")'
        )
        variable = (
            settings(board.QueryVariable(self.name).label(self.name).query(query))
            .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(False)
            .include_all(False)
        )
        return variable.hide(dashboard.VariableHide.HIDE_VARIABLE)


@dataclass(frozen=True)
class TagValues:
    name: str
    label: str
    query: str

    def build(self) -> board.QueryVariable:
        return multi(board.QueryVariable(self.name).label(self.label).query(self.query))


def settings(variable: board.QueryVariable) -> board.QueryVariable:
    return (
        variable.datasource(DATASOURCE)
        .refresh(dashboard.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .regex("")
    )


def multi(variable: board.QueryVariable) -> board.QueryVariable:
    return (
        settings(variable)
        .multi(True)
        .include_all(True)
        .current(dashboard.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def silent() -> board.CustomVariable:
    """How long a host may stay silent and still be listed: retired hosts drop out long before retention."""
    return (
        board.CustomVariable("silent")
        .label("Hide hosts silent for")
        .description("Hosts that sent nothing for this long drop out of the host lists")
        .values(",".join(SILENT_CHOICES))
        .current(dashboard.VariableOption(selected=True, text="1d", value="1d"))
        .options([dashboard.VariableOption(selected=c == "1d", text=c, value=c) for c in SILENT_CHOICES])
        .multi(False)
        .include_all(False)
    )


def make(
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    variables: Sequence[Hosts | TagValues | Running | FeatureHost],
    items: Sequence[Item],
) -> dashboard.Dashboard:
    builder = (
        board.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["madash", "telegraf", *tags])
        # Provisioned read-only (allowUiUpdates: false): an edit could not be saved.
        .readonly()
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .link(
            board.DashboardLink("madash dashboards")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags(["madash"])
            .keep_time(True)
            .icon("external link")
        )
    )
    chosen: list[cogbuilder.Builder[dashboard.VariableModel]] = [silent(), *(v.build() for v in variables)]
    builder.variables(chosen)
    return layout(builder, items).build()
