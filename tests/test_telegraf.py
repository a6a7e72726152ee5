"""The Telegraf configuration of each feature: golden text, valid TOML, documented option names."""

from __future__ import annotations

import tomllib
import types

import pytest

from madash.packages.client import ClientInputs, telegraf_config
from madash.site.config import HostSection, InternetSection
from madash.site.features import FEATURES
from tests.golden import check_golden

# Option names as Telegraf's plugin documentation gives them (1.28 to current); an
# option outside these lists would make Telegraf refuse to start.
DOCUMENTED = {
    "cpu": {"percpu", "totalcpu", "collect_cpu_time", "report_active", "core_tags"},
    "mem": set(),
    "swap": set(),
    "system": set(),
    "kernel": {"collect"},
    "processes": {"use_sudo"},
    "disk": {"mount_points", "ignore_fs", "ignore_mount_opts"},
    "diskio": {"devices", "skip_serial_number", "device_tags", "name_templates"},
    "net": {"interfaces", "ignore_protocol_stats"},
    "netstat": set(),
    "smart": {"path_smartctl", "path_nvme", "use_sudo", "attributes", "nocheck", "devices", "excludes", "timeout"},
    "sensors": {"remove_numbers", "timeout"},
    "nvidia_smi": {"bin_path", "timeout"},
    "docker": {"endpoint", "gather_services", "container_name_include", "container_name_exclude", "timeout"},
    "apcupsd": {"servers", "timeout"},
    "ping": {"urls", "method", "count", "ping_interval", "timeout", "deadline", "interface", "percentiles"},
    "http_response": {"urls", "response_timeout", "method", "follow_redirects", "response_string_match"},
    "dns_query": {"servers", "domains", "record_type", "port", "timeout"},
}
OUTPUT_OPTIONS = {
    "urls", "database", "username", "password", "skip_database_creation", "timeout", "content_encoding",
    "tls_ca", "tls_cert", "tls_key", "insecure_skip_verify",
}  # fmt: skip
AGENT_OPTIONS = {
    "interval", "round_interval", "metric_batch_size", "metric_buffer_limit", "collection_jitter",
    "flush_interval", "flush_jitter", "precision", "hostname", "omit_hostname",
}  # fmt: skip
FEATURE_INPUTS = {
    "smart": {"smart"},
    "sensors": {"sensors"},
    "nvidia": {"nvidia_smi"},
    "docker": {"docker"},
    "ups": {"apcupsd"},
    "internet": {"ping", "http_response", "dns_query"},
    "vm": set(),
}
BASE_INPUTS = {"cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat"}


def inputs_for(features: tuple[str, ...], **host: object) -> ClientInputs:
    return ClientInputs(
        host="laptop",
        host_config=HostSection(features=features, **host),  # type: ignore[arg-type]
        site_name="golden",
        maintainer="Golden Admins <admins@example.org>",
        output_url="https://monitor.example.org:5086",
        database="telegraf",
        writer_user="telegraf",
        writer_password="not-in-the-config",
        internet=InternetSection(http_match="Debian"),
        ca_pem=b"",
        cert_pem=b"",
        key_pem=b"",
        snippets=(),
    )


@pytest.mark.parametrize("feature", ["base", *FEATURES])
def test_feature_config(request: pytest.FixtureRequest, feature: str) -> None:
    features = () if feature == "base" else (feature,)
    text = telegraf_config(inputs_for(features))
    check_golden(request, f"telegraf/{feature}.conf", text)
    config = tomllib.loads(text)
    assert set(config["inputs"]) == BASE_INPUTS | FEATURE_INPUTS.get(feature, set())
    for plugin, instances in config["inputs"].items():
        for instance in instances:
            assert set(instance) <= DOCUMENTED[plugin], f"undocumented options in inputs.{plugin}"
    [output] = config["outputs"]["influxdb"]
    assert set(output) <= OUTPUT_OPTIONS
    assert output["urls"] == ["https://monitor.example.org:5086"]
    assert output["tls_key"] == "/etc/madash/tls/client.key"
    assert output["password"] == "${MADASH_INFLUXDB_PASSWORD}"
    assert "not-in-the-config" not in text
    assert set(config["agent"]) <= AGENT_OPTIONS
    assert config["agent"]["hostname"] == "laptop"


def test_smart_produces_attributes_through_sudo() -> None:
    [smart] = tomllib.loads(telegraf_config(inputs_for(("smart",))))["inputs"]["smart"]
    assert smart["attributes"] is True and smart["use_sudo"] is True
    assert smart["path_smartctl"] == "/usr/sbin/smartctl" and smart["nocheck"] == "standby"


def test_interval_tags_and_ups_server() -> None:
    tags = types.MappingProxyType({"room": 'office "A"', "rack": "r1"})
    config = tomllib.loads(
        telegraf_config(inputs_for(("ups",), interval="1m", tags=tags, ups_server="tcp://192.0.2.7:3551"))
    )
    assert config["agent"]["interval"] == "1m"
    assert config["global_tags"] == {"rack": "r1", "room": 'office "A"'}
    assert config["inputs"]["apcupsd"][0]["servers"] == ["tcp://192.0.2.7:3551"]


def test_feature_order_does_not_matter() -> None:
    assert telegraf_config(inputs_for(("smart", "docker"))) == telegraf_config(inputs_for(("docker", "smart")))
