"""A raw InfluxQL query: the SDK has no InfluxDB query type, so this is the small typed one it lacks.

Its JSON is what Grafana 12's InfluxDB datasource reads from a target (public/app/plugins/datasource/influxdb
types.ts, InfluxQuery, and pkg/tsdb/influxdb/models/model_parser.go): refId, datasource, rawQuery, query,
resultFormat and alias.
"""

from __future__ import annotations

import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE = dashboard.DataSourceRef(type_val="influxdb", uid="madash-influxdb")
ResultFormat = typing.Literal["time_series", "table"]


class InfluxQL(cogvariants.Dataquery):
    def __init__(self, ref_id: str, query: str, result_format: ResultFormat, alias: str) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE,
            "rawQuery": True,
            "resultFormat": self.result_format,
            "query": self.query,
        }
        # Without an alias Grafana names a series "measurement.column { tags }" (util.FormatFrameName).
        if self.alias:
            payload["alias"] = self.alias
        return payload


class Query(cogbuilder.Builder[InfluxQL]):
    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._internal = InfluxQL(ref_id, query, "time_series", "")

    def build(self) -> InfluxQL:
        return self._internal

    def table(self) -> typing.Self:
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> typing.Self:
        self._internal.alias = alias
        return self
