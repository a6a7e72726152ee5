"""A client's Telegraf configuration: what its inputs cost, how often they run, and the file itself.

Pure functions of ClientInputs. The numbers here are what real Telegraf showed
(tests/test_telegraf_real.py runs every configuration with 1.32.3 and 1.39.3):

- Each input that waits on a program or the network runs on its own interval,
  never shorter than its deadline plus a margin, so a slow gather cannot overlap
  the next one (Telegraf skips and logs a gather that is still running).
- The output buffer holds an hour of a busy host's metrics, so a server outage
  of an hour loses nothing (see buffer_limit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from madash.deb.spec import FileEntry
from madash.packages import reread
from madash.packages.hostpaths import ADMIN_CONFIG_DIR, PACKAGE_PREFIX, host_paths
from madash.render import render
from madash.site.config import InternetSection
from madash.site.features import BASE_METRICS, FEATURES, Feature
from madash.site.values import interval_seconds

if TYPE_CHECKING:
    from madash.packages.client import ClientInputs

# systemd's LoadCredential name for the writer password, also the key Telegraf asks its secret store for.
CREDENTIAL = "influxdb_password"
SECRET_STORE = "madash"  # noqa: S105 - the store's id, not a secret
PASSWORD_REFERENCE = f"@{{{SECRET_STORE}:{CREDENTIAL}}}"
# The global tag naming the package a metric comes from, as apt spells it (madash-client-HOST=VERSION): the
# Fleet dashboard tells from it what each host runs. The version is not known when the configuration is made
# (it follows from the package's digest), so the configuration names a variable that a drop-in made with the
# version sets (version_dropin, below), and stays the same file from one version to the next.
PACKAGE_TAG = "madash_package"
PACKAGE_VARIABLE = "MADASH_PACKAGE"
# How long an outage of the server the buffer bridges without dropping a metric.
BUFFER_SECONDS = 3600
# Telegraf's own default; the buffer never goes below it.
MIN_BUFFER = 10_000


def input_interval(feature: Feature, host_interval: str) -> str:
    """The feature's inputs' interval: the host's, or the feature's floor when that is longer."""
    floor = FEATURES[feature].min_interval_s
    seconds = interval_seconds(host_interval)
    return host_interval if seconds >= floor else f"{floor}s"


def internet_metrics(internet: InternetSection) -> int:
    """One metric per ping target, per HTTP URL and per DNS server and domain, each gather."""
    return len(internet.ping) + len(internet.http) + len(internet.dns_servers) * len(internet.dns_domains)


def metrics_per_hour(features: Iterable[Feature], host_interval: str, internet: InternetSection) -> int:
    """A busy host's metrics in an hour: each input's metrics per gather times its gathers per hour."""
    total = BASE_METRICS * BUFFER_SECONDS // interval_seconds(host_interval)
    for feature in features:
        per_gather = internet_metrics(internet) if feature is Feature.INTERNET else FEATURES[feature].metrics
        total += per_gather * BUFFER_SECONDS // interval_seconds(input_interval(feature, host_interval))
    return total


def buffer_limit(features: Iterable[Feature], host_interval: str, internet: InternetSection) -> int:
    """metric_buffer_limit: an hour of metrics, rounded up to a thousand, at least Telegraf's default.

    Telegraf keeps the buffer in memory, a few hundred bytes a metric: the 100,000 of
    a docker host at 10 s cost it some tens of MB during an outage, and nothing otherwise.
    """
    hour = metrics_per_hour(features, host_interval, internet)
    return max(MIN_BUFFER, math.ceil(hour / 1000) * 1000)


def telegraf_config(inputs: ClientInputs) -> str:
    features = sorted(inputs.host_config.features)
    interval = inputs.host_config.interval
    paths = host_paths(inputs.host)
    return render(
        "conf/telegraf/client.conf.j2",
        {
            "host": inputs.host,
            "site_name": inputs.site_name,
            "features": features,
            "input_templates": [t for t in (FEATURES[f].template for f in features) if t],
            "intervals": {str(f): input_interval(f, interval) for f in FEATURES},
            "tags": dict(sorted(inputs.host_config.tags.items())),
            "package_tag": PACKAGE_TAG,
            "package_variable": PACKAGE_VARIABLE,
            "interval": interval,
            "buffer_limit": buffer_limit(features, interval, inputs.internet),
            "output_url": inputs.output_url,
            "database": inputs.database,
            "writer_user": inputs.writer_user,
            "secret_store": SECRET_STORE,
            "password_reference": PASSWORD_REFERENCE,
            "tls_ca": paths.ca,
            "tls_cert": paths.cert,
            "tls_key": paths.key,
            "password_file": paths.password,
            "admin_config_dir": ADMIN_CONFIG_DIR,
            "ups_server": inputs.host_config.ups_server,
            "internet": inputs.internet,
        },
    )


# The drop-in that hands Telegraf its package's version (see PACKAGE_TAG).
VERSION_DROPIN = "/lib/systemd/system/telegraf.service.d/madash-version.conf"


def package_tag(host: str, version: str) -> str:
    """The value of HOST's madash_package tag at VERSION: the package as apt spells it, NAME=VERSION."""
    return f"{PACKAGE_PREFIX}{host}={version}"


def version_dropin(host: str, version: str) -> tuple[FileEntry, ...]:
    """The drop-in that hands Telegraf its package's version: made once the version is known."""
    assignment = f"{PACKAGE_VARIABLE}={package_tag(host, version)}"
    text = render(
        "debian/client/telegraf-version.conf.j2", {"host": host, "tag": PACKAGE_TAG, "assignment": assignment}
    )
    reread.unit(VERSION_DROPIN, text, {"Service": {"Environment"}}, {"Service": {"Environment": assignment}})
    return (FileEntry(VERSION_DROPIN, text.encode()),)
