"""Every provisioning file madash-server ships, held against the keys Grafana 12's provisioning structures have.

Grafana reads these files with Go's YAML decoder, which drops a key no struct field names: a typo
(``isdefault``, ``allowUIUpdates``) is silently ignored and the setting keeps its default. The keys below are
the ``yaml`` tags of the structures Grafana decodes into, written down from its source:

- datasources: pkg/services/provisioning/datasources/types.go, configsV1 (with configVersion),
  upsertDataSourceFromConfigV1 and deleteDatasourceConfigV1; an InfluxDB datasource's jsonData is read by
  pkg/tsdb/influxdb/models/datasource_info.go (DatasourceInfo) and its secureJsonData by the same plugin
  (``password`` for InfluxQL, ``token`` for Flux).
- dashboards: pkg/services/provisioning/dashboards/types.go, configV1 and configs; a file provider's options
  are read by file_reader.go (``path``, ``foldersFromFilesStructure``).
- alerting: pkg/services/provisioning/alerting/ (file.go's AlertingFileV1, rules_types.go's AlertRuleGroupV1,
  AlertRuleV1, QueryV1 and RelativeTimeRangeV1, contact_point_types.go's ContactPointV1 and ReceiverV1,
  notification_policy_types.go's NotificiationPolicyV1 with the inline route of the Alertmanager definitions).
  A query's model is the datasource's own (the InfluxDB target) or a server-side expression's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from madash.deb.reader import DebContents, read_deb
from madash.packages import bake, server
from madash.site.config import load_site
from tests.conftest import NOW

Schema = dict[str, Any]  # key -> None (a value not checked further), a nested Schema, or [Schema] for a list

DATASOURCE: Schema = dict.fromkeys(
    ("orgId", "orgName", "version", "name", "type", "access", "url", "user", "database", "basicAuth",
     "basicAuthUser", "withCredentials", "isDefault", "correlations", "editable", "uid")
)  # fmt: skip
DATASOURCE["jsonData"] = dict.fromkeys(
    ("dbName", "version", "httpMode", "timeInterval", "defaultBucket", "organization", "maxSeries", "secureGrpc")
)
DATASOURCE["secureJsonData"] = dict.fromkeys(("password", "token"))
DATASOURCES: Schema = {
    "apiVersion": None,
    "datasources": [DATASOURCE],
    "deleteDatasources": [dict.fromkeys(("orgId", "orgName", "name"))],
}
PROVIDER: Schema = dict.fromkeys(
    ("name", "type", "orgId", "folder", "folderUid", "editable", "disableDeletion", "updateIntervalSeconds",
     "allowUiUpdates")
)  # fmt: skip
PROVIDER["options"] = dict.fromkeys(("path", "foldersFromFilesStructure"))
DASHBOARDS: Schema = {"apiVersion": None, "providers": [PROVIDER]}
QUERY_MODEL: Schema = dict.fromkeys(
    ("refId", "datasource", "rawQuery", "resultFormat", "query", "alias", "intervalMs", "maxDataPoints", "hide",
     "type", "expression", "reducer", "settings", "conditions")
)  # fmt: skip
RULE: Schema = dict.fromkeys(
    ("uid", "title", "condition", "dashboardUid", "panelId", "noDataState", "execErrState", "for", "annotations",
     "labels", "isPaused")
)  # fmt: skip
RULE["data"] = [
    {"refId": None, "queryType": None, "relativeTimeRange": dict.fromkeys(("from", "to")), "datasourceUid": None,
     "model": QUERY_MODEL}
]  # fmt: skip
ALERTING: Schema = {
    "apiVersion": None,
    "groups": [{"orgId": None, "name": None, "folder": None, "interval": None, "rules": [RULE]}],
    "deleteRules": [dict.fromkeys(("orgId", "uid"))],
    "contactPoints": [
        {"orgId": None, "name": None,
         "receivers": [dict.fromkeys(("uid", "type", "settings", "disableResolveMessage"))]}
    ],
    "deleteContactPoints": [dict.fromkeys(("orgId", "uid"))],
    "policies": [
        dict.fromkeys(("orgId", "receiver", "group_by", "matchers", "object_matchers", "group_wait",
                       "group_interval", "repeat_interval", "routes", "continue", "mute_time_intervals"))
    ],
    "resetPolicies": None,
    "templates": None,
    "muteTimes": None,
}  # fmt: skip
SCHEMAS = {"datasources": DATASOURCES, "dashboards": DASHBOARDS, "alerting": ALERTING}


def unknown_keys(document: Any, schema: Schema, where: str = "") -> Iterator[str]:
    assert isinstance(document, dict), f"{where or 'the file'} is not a mapping"
    for key, value in document.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in schema:
            yield path
            continue
        inner = schema[key]
        if isinstance(inner, list):
            assert isinstance(value, list), f"{path} is not a list"
            for index, item in enumerate(value):
                yield from unknown_keys(item, inner[0], f"{path}[{index}]")
        elif isinstance(inner, dict):
            yield from unknown_keys(value, inner, path)


@pytest.fixture
def built(site_dir: Path) -> DebContents:
    site = load_site(site_dir)
    return read_deb(bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path)


def provisioning_files(built: DebContents) -> dict[str, tuple[str, Any]]:
    files: dict[str, tuple[str, Any]] = {}
    for path, member in built.members.items():
        if path.startswith(f"{server.PROVISIONING}/") and member.data is not None:
            kind = path.removeprefix(f"{server.PROVISIONING}/").split("/")[0]
            files[path] = (kind, yaml.safe_load(member.data))
    return files


def test_every_provisioning_key_is_one_grafana_reads(built: DebContents) -> None:
    files = provisioning_files(built)
    assert {kind for kind, _ in files.values()} == {"datasources", "dashboards", "alerting"}
    for path, (kind, document) in files.items():
        assert path.endswith(".yaml"), path
        assert document["apiVersion"] == 1, path
        assert list(unknown_keys(document, SCHEMAS[kind])) == [], f"{path}: keys Grafana 12 would ignore"


@pytest.mark.parametrize(
    "kind, change, expected",
    [
        ("datasources", lambda d: d["datasources"][0].update(isdefault=True), ["datasources[0].isdefault"]),
        ("datasources", lambda d: d["datasources"][0]["jsonData"].update(db="x"), ["datasources[0].jsonData.db"]),
        ("dashboards", lambda d: d["providers"][0].update(allowUIUpdates=False), ["providers[0].allowUIUpdates"]),
        ("dashboards", lambda d: d["providers"][0]["options"].update(paths="/x"), ["providers[0].options.paths"]),
        ("dashboards", lambda d: d.update(provider=[]), ["provider"]),
        ("alerting", lambda d: d["groups"][0]["rules"][0].update(noDataStat="OK"), ["groups[0].rules[0].noDataStat"]),
        ("alerting", lambda d: d["groups"][0]["rules"][0]["data"][0].update(datasource="x"),
         ["groups[0].rules[0].data[0].datasource"]),
    ],
)  # fmt: skip
def test_a_typo_is_refused(built: DebContents, kind: str, change: Any, expected: list[str]) -> None:
    [document] = [doc for k, doc in provisioning_files(built).values() if k == kind]
    change(document)
    assert list(unknown_keys(document, SCHEMAS[kind])) == expected
