"""The Telegraf configuration of each feature: golden text, valid TOML, documented option names."""

from __future__ import annotations

import fnmatch
import tomllib
import types

import pytest

from madash.packages.client import ClientInputs
from madash.packages.telegraf import metrics_per_hour, telegraf_config
from madash.site.config import HostSection, InternetSection
from madash.site.features import FEATURES, Feature
from madash.site.values import interval_seconds
from tests.golden import check_golden

# Options every input takes (Telegraf's plugin-level settings).
COMMON = {"interval", "startup_error_behavior", "tagdrop"}
# Option names as Telegraf's plugin documentation gives them (1.28 to current); an
# option outside these lists would make Telegraf refuse to start (test_telegraf_real runs them).
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
    "internal": {"collect_memstats"},
}
OUTPUT_OPTIONS = {
    "urls", "database", "username", "password", "skip_database_creation", "timeout", "content_encoding",
    "tls_ca", "tls_cert", "tls_key", "insecure_skip_verify",
}  # fmt: skip
AGENT_OPTIONS = {
    "interval", "round_interval", "metric_batch_size", "metric_buffer_limit", "collection_jitter",
    "flush_interval", "flush_jitter", "precision", "hostname", "omit_hostname", "skip_processors_after_aggregators",
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
BASE_INPUTS = {"cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat", "internal"}
# The longest a gather of each input may take (its timeout or deadline), in seconds.
DEADLINES = {"smart": 30, "sensors": 5, "nvidia_smi": 5, "docker": 5, "apcupsd": 5, "ping": 10,
             "http_response": 10, "dns_query": 2}  # fmt: skip


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
            assert set(instance) <= DOCUMENTED[plugin] | COMMON, f"undocumented options in inputs.{plugin}"
    [output] = config["outputs"]["influxdb"]
    assert set(output) <= OUTPUT_OPTIONS
    assert output["urls"] == ["https://monitor.example.org:5086"]
    # The key is the host's secret, beside its state; the certificates are public vendor data.
    assert output["tls_key"] == "/var/lib/madash-client-laptop/tls/client.key"
    assert output["tls_cert"] == "/usr/share/madash-client-laptop/tls/client.crt"
    assert output["password"] == "@{madash:influxdb_password}"
    assert config["secretstores"]["docker"] == [{"id": "madash", "path": "${CREDENTIALS_DIRECTORY}"}]
    assert "not-in-the-config" not in text
    assert set(config["agent"]) <= AGENT_OPTIONS
    assert config["agent"]["hostname"] == "laptop"


@pytest.mark.parametrize("interval", ["1s", "10s", "45s", "1m", "1h"])
def test_no_input_runs_more_often_than_its_deadline_allows(interval: str) -> None:
    """A gather still running when the next is due is skipped: every deadline must sit inside its interval."""
    config = tomllib.loads(telegraf_config(inputs_for(tuple(f for f in FEATURES if f != "vm"), interval=interval)))
    for plugin, deadline in DEADLINES.items():
        [instance] = config["inputs"][plugin]
        assert interval_seconds(instance.get("interval", interval)) > deadline, plugin
        assert interval_seconds(instance.get("interval", interval)) >= interval_seconds(interval), plugin


def test_inputs_whose_program_or_daemon_may_be_missing_keep_telegraf_running() -> None:
    config = tomllib.loads(telegraf_config(inputs_for(("docker", "nvidia", "sensors"))))["inputs"]
    # docker's start error is retryable (daemon down); nvidia-smi's is not, so only "ignore" survives it.
    assert config["docker"][0]["startup_error_behavior"] == "retry"
    assert config["nvidia_smi"][0]["startup_error_behavior"] == "ignore"
    # sensors fails in Init, which no behaviour covers: the package depends on lm-sensors instead.
    assert "lm-sensors" in FEATURES[Feature.SENSORS].depends


def test_pseudo_interfaces_and_partitions_are_dropped() -> None:
    config = tomllib.loads(telegraf_config(inputs_for(())))["inputs"]
    net = set(config["net"][0]["tagdrop"]["interface"])
    assert {"lo", "veth*", "all"} <= net
    devices = config["diskio"][0]["tagdrop"]["name"]
    dropped = {"sda1", "nvme0n1p2", "mmcblk0p1", "loop0", "vdb3", "sr0", "zram0"}
    kept = {"sda", "nvme0n1", "mmcblk0", "vdb", "md0", "dm-0", "xvda"}
    assert {d for d in dropped | kept if any(fnmatch.fnmatchcase(d, p) for p in devices)} == dropped
    assert "ignore_protocol_stats" not in config["net"][0]


def test_smart_values_are_written_as_floats() -> None:
    config = tomllib.loads(telegraf_config(inputs_for(("smart",))))
    [converter] = config["processors"]["converter"]
    assert converter["namepass"] == ["smart_attribute", "smart_device"]
    assert {"raw_value", "temp_c", "pending_sector_count"} <= set(converter["fields"]["float"])
    assert "processors" not in tomllib.loads(telegraf_config(inputs_for(("docker",))))


@pytest.mark.parametrize(
    ("features", "interval", "expected"),
    [
        ((), "10s", 44_000),  # 120 metrics x 360 gathers = 43,200
        ((), "1m", 10_000),  # 7,200 an hour: Telegraf's default is the floor
        (("docker",), "10s", 152_000),  # + 300 x 360
        (("smart",), "10s", 56_000),  # + 200 x 60 (smart runs every minute)
        (("internet",), "10s", 44_000),  # + (3 ping + 1 http + 2x1 dns) x 120
    ],
)
def test_the_buffer_holds_an_hour(features: tuple[str, ...], interval: str, expected: int) -> None:
    config = tomllib.loads(telegraf_config(inputs_for(features, interval=interval)))
    assert config["agent"]["metric_buffer_limit"] == expected
    checked = [Feature(f) for f in features]
    hour = metrics_per_hour(checked, interval, InternetSection())
    assert expected >= hour and (expected - hour < 1000 or expected == 10_000)


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
    # The package tag comes from the version drop-in's environment (telegraf.version_dropin).
    assert config["global_tags"] == {"rack": "r1", "room": 'office "A"', "madash_package": "${MADASH_PACKAGE}"}
    assert config["inputs"]["apcupsd"][0]["servers"] == ["tcp://192.0.2.7:3551"]


def test_feature_order_does_not_matter() -> None:
    assert telegraf_config(inputs_for(("smart", "docker"))) == telegraf_config(inputs_for(("docker", "smart")))
