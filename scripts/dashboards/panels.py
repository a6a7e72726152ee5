"""The panel kinds madash's dashboards use, each with the house style set once: built with the SDK's builders."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, common, gauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard

from dashboards.influx import DATASOURCE, Query

Step = tuple[str, float | None]  # a threshold: colour from this value up (None: from the bottom)
Property = tuple[str, object]  # an override's property: Grafana's id and value
Mapping = tuple[str, str | tuple[float, float], str, str]  # kind (value, range, regex), what it matches, text, colour


# A series that is a limit (a total, a capacity, a buffer's size) drawn as a dashed line without fill.
LIMIT_LINE: tuple[Property, ...] = (
    ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
    ("custom.fillOpacity", 0),
)


@dataclass(frozen=True)
class Override:
    matcher: str  # byName or byRegexp
    options: str
    properties: Sequence[Property]


@dataclass(frozen=True)
class Common:
    """What every panel has: its text, unit, queries and place."""

    title: str
    description: str
    unit: str
    targets: Sequence[Query]
    w: int
    h: int
    steps: Sequence[Step] = (("green", None),)
    min: float | None = None
    max: float | None = None
    decimals: float | None = None
    mappings: Sequence[Mapping] = ()
    overrides: Sequence[Override] = field(default_factory=tuple)
    links: Sequence[tuple[str, str]] = ()  # data links: title, URL


class AlertList(cogbuilder.Builder[dashboard.Panel]):
    """Grafana's alert list panel (core, "alertlist"), which the SDK has no builder for: the alert instances of
    the provisioned rules, grouped by a label. Its options are Grafana 12's UnifiedAlertListOptions
    (public/app/plugins/panel/alertlist/panelcfg.cue); it reads the alert state, not a data source."""

    def __init__(self, title: str, description: str, group_by: str, w: int, h: int) -> None:
        self._internal = dashboard.Panel(
            type_val="alertlist",
            title=title,
            description=description,
            grid_pos=dashboard.GridPos(h=h, w=w),
            options={
                "viewMode": "list",
                "groupMode": "custom",
                "groupBy": [group_by],
                "maxItems": 100,
                "sortOrder": 3,  # by importance: firing first
                "dashboardAlerts": False,
                "alertName": "",
                "alertInstanceLabelFilter": "",
                "datasource": "grafana",
                "showInstances": True,
                "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
            },
        )

    def build(self) -> dashboard.Panel:
        return self._internal

    def id(self, panel_id: int) -> typing.Self:
        self._internal.id_val = panel_id
        return self


QueryPanel = stat.Panel | gauge.Panel | bargauge.Panel | timeseries.Panel | table.Panel | statetimeline.Panel
AnyPanel = QueryPanel | AlertList


def thresholds(steps: Sequence[Step]) -> board.ThresholdsConfig:
    return (
        board.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=color) for color, value in steps])
    )


def mappings(items: Sequence[Mapping]) -> list[dashboard.ValueMapping]:
    result: list[dashboard.ValueMapping] = []
    values: dict[str, dashboard.ValueMappingResult] = {}
    for index, (kind, match, text, color) in enumerate(items):
        outcome = dashboard.ValueMappingResult(text=text or None, color=color, index=index)
        if isinstance(match, tuple):
            low, high = match
            result.append(dashboard.RangeMap(options=dashboard.DashboardRangeMapOptions(low, high, outcome)))
        elif kind == "value":
            values[match] = outcome
        else:
            result.append(dashboard.RegexMap(options=dashboard.DashboardRegexMapOptions(match, outcome)))
    if values:
        result.insert(0, dashboard.ValueMap(options=values))
    return result


def apply(panel: QueryPanel, spec: Common) -> QueryPanel:
    panel.title(spec.title).description(spec.description).datasource(DATASOURCE).unit(spec.unit)
    panel.thresholds(thresholds(spec.steps)).span(spec.w).height(spec.h)
    panel.targets(list(spec.targets))
    if spec.min is not None:
        panel.min(spec.min)
    if spec.max is not None:
        panel.max(spec.max)
    if spec.decimals is not None:
        panel.decimals(spec.decimals)
    if spec.mappings:
        panel.mappings(mappings(spec.mappings))
    if spec.links:
        panel.data_links([board.DashboardLink(title).url(url) for title, url in spec.links])
    for override in spec.overrides:
        properties = [dashboard.DynamicConfigValue(id_val=k, value=v) for k, v in override.properties]
        panel.with_override(dashboard.MatcherConfig(id_val=override.matcher, options=override.options), properties)
    return panel


def reduce(fields: str = "") -> common.ReduceDataOptions:
    return common.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(fields)


def stat_panel(spec: Common, color: str = "none", fields: str = "") -> AnyPanel:
    panel = (
        stat.Panel()
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode(color))
        .justify_mode(cm.BigValueJustifyMode.AUTO)
        .text_mode(cm.BigValueTextMode.AUTO)
        .orientation(cm.VizOrientation.AUTO)
        .wide_layout(True)
        .show_percent_change(False)
        .reduce_options(reduce(fields))
    )
    return apply(panel, spec)


def gauge_panel(spec: Common) -> AnyPanel:
    panel = (
        gauge.Panel()
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .reduce_options(reduce())
        .orientation(cm.VizOrientation.AUTO)
        .show_threshold_labels(False)
        .show_threshold_markers(True)
        .sizing(cm.BarGaugeSizing.AUTO)
        .min_viz_width(75)
        .min_viz_height(75)
    )
    return apply(panel, spec)


def bargauge_panel(spec: Common) -> AnyPanel:
    panel = (
        bargauge.Panel()
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .reduce_options(reduce())
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .value_mode(cm.BarGaugeValueMode.COLOR)
        .name_placement(cm.BarGaugeNamePlacement.AUTO)
        .show_unfilled(True)
        .sizing(cm.BarGaugeSizing.AUTO)
        .min_viz_width(8)
        .min_viz_height(16)
        .max_viz_height(300)
    )
    return apply(panel, spec)


def timeseries_panel(spec: Common, fill: int = 10, stacked: bool = False, threshold_style: str = "off") -> AnyPanel:
    panel = (
        timeseries.Panel()
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.PALETTE_CLASSIC))
        .draw_style(cm.GraphDrawStyle.LINE)
        .line_interpolation(cm.LineInterpolation.LINEAR)
        .line_width(1)
        .fill_opacity(fill)
        .gradient_mode(cm.GraphGradientMode.NONE)
        .show_points(cm.VisibilityMode.NEVER)
        # fill(null) leaves an outage empty; spanning it would draw a line across.
        .span_nulls(False)
        .axis_placement(cm.AxisPlacement.AUTO)
        .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL if stacked else cm.StackingMode.NONE).group("A"))
        .thresholds_style(common.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode(threshold_style)))
        .legend(legend())
        .tooltip(common.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    return apply(panel, spec)


def legend() -> common.VizLegendOptions:
    return (
        common.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .calcs([])
    )


def timeline_panel(spec: Common) -> AnyPanel:
    panel = (
        statetimeline.Panel()
        .color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .show_value(cm.VisibilityMode.NEVER)
        .row_height(0.9)
        .merge_values(True)
        .align_value(cm.TimelineValueAlignment.LEFT)
        .legend(legend())
        .tooltip(common.VizTooltipOptions().mode(cm.TooltipDisplayMode.SINGLE).sort(cm.SortOrder.NONE))
        .line_width(0)
        .fill_opacity(70)
    )
    return apply(panel, spec)


def table_panel(
    spec: Common,
    columns: Sequence[str],
    sort: str,
    descending: bool,
    hide_time: bool = True,
    rename: dict[str, str] | None = None,
) -> AnyPanel:
    """A table whose every column has a fixed place: Grafana builds tag columns from a Go map, in any order.
    The frames of several queries are merged into one table first."""
    excluded = {"Time": True} if hide_time else {}
    order = [*(c for c in columns if c != "Time"), "Time"] if hide_time else list(columns)
    panel = table.Panel()
    if len(spec.targets) > 1:
        panel.with_transformation(dashboard.DataTransformerConfig(id_val="merge", options={}))
    panel = (
        panel.color_scheme(board.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .align(cm.FieldTextAlignment.AUTO)
        .cell_options(cm.TableAutoCellOptions())
        .inspect(False)
        .cell_height(cm.TableCellHeight.SM)
        .show_header(True)
        .footer(common.TableFooterOptions().show(False).reducer(["sum"]).count_rows(False).fields([]))
        .sort_by([common.TableSortByFieldState().display_name(sort).desc(descending)])
        .with_transformation(
            dashboard.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": excluded,
                    "indexByName": {name: index for index, name in enumerate(order)},
                    "renameByName": rename or {},
                },
            )
        )
    )
    return apply(panel, spec)


@dataclass
class Row:
    title: str
    panels: list[AnyPanel]
    repeat: str | None = None
    collapsed: bool = False


Item = AnyPanel | Row


def layout(builder: board.Dashboard, items: Sequence[Item]) -> board.Dashboard:
    """Panels flow left to right; a row starts a new line. An expanded row's panels follow it at the top level
    (Grafana reads a row's own panel list only when the row is collapsed). Ids count from 1 in that order."""
    ids = iter(range(1, 1000))
    for item in items:
        if isinstance(item, Row):
            row = board.Row(item.title).id(next(ids)).datasource(DATASOURCE).collapsed(item.collapsed)
            if item.repeat:
                row.repeat(item.repeat)
            if item.collapsed:
                for panel in item.panels:
                    row.with_panel(panel.id(next(ids)))
                builder.with_row(row)
            else:
                builder.with_row(row)
                for panel in item.panels:
                    builder.with_panel(panel.id(next(ids)))
        else:
            builder.with_panel(item.id(next(ids)))
    return builder
