"""The feature registry: everything madash knows about a host feature, in one table.

Validation (madash.toml and --feature), the CLI's help, the client package's
control fields, groups and capabilities, the Telegraf template selection and the
README's feature table are all derived from FEATURES. Adding a feature means one
entry here and, if it collects anything, one template in conf/telegraf/inputs/.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Feature(enum.StrEnum):
    SMART = "smart"
    SENSORS = "sensors"
    NVIDIA = "nvidia"
    DOCKER = "docker"
    UPS = "ups"
    INTERNET = "internet"
    VM = "vm"


@dataclass(frozen=True)
class FeatureSpec:
    feature: Feature
    help: str  # one phrase, for --help
    collects: str  # the README's "collects" column
    grants: str  # the README's "grants" column: what Telegraf may do beyond its own user's rights
    # conf/telegraf/inputs/NAME.conf.j2, or None for a feature that collects nothing itself.
    template: str | None
    inputs: tuple[str, ...] = ()  # the Telegraf plugins that template configures
    depends: tuple[str, ...] = ()  # Debian packages the client package Depends on
    recommends: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # supplementary groups of the telegraf user
    capabilities: tuple[str, ...] = ()  # AmbientCapabilities of telegraf.service
    sudoers: bool = False  # ships debian/client/sudoers.j2
    clashes: frozenset[Feature] = frozenset()
    # A busy host's metrics per gather of the feature's inputs (the buffer is sized from it).
    metrics: int = 0
    # The shortest interval the inputs run at: above their deadlines, so gathers never overlap.
    min_interval_s: int = 0


_SMART_GRANTS = (
    "a sudoers drop-in (`/etc/sudoers.d/madash-telegraf`) allowing exactly `smartctl --scan`, "
    "`smartctl --scan --device=nvme` and `smartctl --info --health --attributes --tolerance=verypermissive "
    "-n standby --format=brief /dev/...` as root, nothing else"
)
_DOCKER_GRANTS = (
    "membership of the `docker` group, **which is root-equivalent**: whoever controls Telegraf's configuration "
    "controls the host. Purge takes back only the memberships the package added"
)

# metrics: what a busy host gives per gather, generously: smart 8 disks of ~25 attributes,
# sensors a few chips of ~10 readings, docker ~40 containers of 7 measurements, nvidia 4 GPUs.
# min_interval_s: smart's 30 s smartctl deadline, the probes' 10 s ping/HTTP deadlines, the
# others' 5 s timeouts, each well under its interval.
FEATURES: dict[Feature, FeatureSpec] = {
    spec.feature: spec
    for spec in (
        FeatureSpec(
            Feature.SMART,
            help="SMART via smartctl and sudo",
            collects="SMART health and attributes (`smart_device`, `smart_attribute`)",
            grants=_SMART_GRANTS,
            template="smart",
            inputs=("smart",),
            depends=("sudo", "smartmontools"),
            recommends=("nvme-cli",),
            sudoers=True,
            metrics=200,
            min_interval_s=60,
        ),
        FeatureSpec(
            Feature.SENSORS,
            help="lm-sensors",
            collects="lm-sensors temperatures, fans, voltages",
            grants="nothing (Depends on lm-sensors)",
            template="sensors",
            inputs=("sensors",),
            # Not a Recommends: Telegraf's sensors input fails its Init without the `sensors`
            # program, and an Init error stops Telegraf whatever startup_error_behavior says.
            depends=("lm-sensors",),
            metrics=40,
            min_interval_s=10,
        ),
        FeatureSpec(
            Feature.NVIDIA,
            help="nvidia-smi",
            collects="GPU utilisation, memory, temperature, power (nvidia-smi)",
            grants="nothing",
            template="nvidia",
            inputs=("nvidia_smi",),
            metrics=4,
            min_interval_s=10,
        ),
        FeatureSpec(
            Feature.DOCKER,
            help="adds telegraf to the root-equivalent docker group",
            collects="engine and per-container metrics",
            grants=_DOCKER_GRANTS,
            template="docker",
            inputs=("docker",),
            groups=("docker",),
            metrics=300,
            min_interval_s=10,
        ),
        FeatureSpec(
            Feature.UPS,
            help="apcupsd",
            collects="an APC UPS through apcupsd (`hosts.HOST.ups_server`)",
            grants="nothing",
            template="ups",
            inputs=("apcupsd",),
            metrics=1,
            min_interval_s=10,
        ),
        FeatureSpec(
            Feature.INTERNET,
            help="the site's connectivity probes; native ping with CAP_NET_RAW",
            collects="ping, HTTP and DNS probes of madash.toml's `[internet]` targets",
            grants="`AmbientCapabilities=CAP_NET_RAW` for native ICMP, nothing broader",
            template="internet",
            inputs=("ping", "http_response", "dns_query"),
            capabilities=("CAP_NET_RAW",),
            metrics=0,  # counted from madash.toml's [internet] targets
            min_interval_s=30,
        ),
        FeatureSpec(
            Feature.VM,
            help="a virtual machine: no smart, sensors, ups",
            collects="marks a virtual machine; refuses `smart`, `sensors`, `ups`",
            grants="nothing",
            template=None,
            clashes=frozenset({Feature.SMART, Feature.SENSORS, Feature.UPS}),
        ),
    )
}
NAMES = tuple(str(f) for f in FEATURES)


def spec(name: str) -> FeatureSpec:
    return FEATURES[Feature(name)]


def clashes(features: Iterable[Feature]) -> list[tuple[Feature, list[Feature]]]:
    """Each feature that refuses others in the set, with the ones it refuses (both ways)."""
    chosen = set(features)
    found = []
    for feature in sorted(chosen):
        refused = sorted({f for f in chosen if f in FEATURES[feature].clashes or feature in FEATURES[f].clashes})
        if refused and FEATURES[feature].clashes:
            found.append((feature, refused))
    return found


def cli_help() -> str:
    return "features: " + ", ".join(f"{s.feature} ({s.help})" for s in FEATURES.values())


BASE_INPUTS = ("cpu", "mem", "swap", "system", "kernel", "processes", "disk", "diskio", "net", "netstat", "internal")
# The always-on inputs' metrics per gather on a busy host: 65 cpu (64 cores and the total),
# 10 file systems, 10 disks, 6 interfaces, 20 of Telegraf's own (internal), the rest one each.
BASE_METRICS = 120
BASE_COLLECTS = ", ".join(BASE_INPUTS)


def readme_table() -> str:
    """The README's feature table, which a test keeps equal to this registry."""
    rows = ["| feature | collects | grants |", "| --- | --- | --- |", f"| (always) | {BASE_COLLECTS} | nothing |"]
    rows += [f"| `{s.feature}` | {s.collects} | {s.grants} |" for s in FEATURES.values()]
    return "\n".join(rows) + "\n"
