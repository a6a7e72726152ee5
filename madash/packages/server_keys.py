"""What madash-server's generated units and compose file may say: the keys each re-reading allows.

Kept apart from server.py, which renders the files: these are the allow-lists
server._reread checks them against, so that a template that grows a key (or a
value that smuggles one in) is refused before the package is built.
"""

from __future__ import annotations

# The sandbox of every unit; each takes away only what its program does not use (see the units' comments).
_SANDBOX = {
    "NoNewPrivileges",
    "UMask",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "CapabilityBoundingSet",
}
_CONFINED = {"DevicePolicy", "ProtectProc", "ProcSubset", "RemoveIPC", "MemoryDenyWriteExecute"}
UNIT_KEYS = {
    "madash-server.service": {
        "Unit": {"Description", "Documentation", "Requires", "After", "Wants"},
        "Service": {"Type", "ExecStart", "ExecStop", "Restart", "RestartSec", "TimeoutStartSec", "PrivateNetwork",
                    *_SANDBOX},
        "Install": {"WantedBy"},
    },
    "madash-ensure-influxdb.service": {
        "Unit": {"Description", "Documentation", "After", "PartOf"},
        "Service": {"Type", "ExecStart", "TimeoutStartSec", "Restart", "RestartSec", "RestartPreventExitStatus",
                    "PrivateUsers", "ReadWritePaths", "IPAddressAllow", "IPAddressDeny", *_SANDBOX, *_CONFINED},
    },
    "madash-grafana-admin.service": {
        "Unit": {"Description", "Documentation", "After", "PartOf"},
        "Service": {"Type", "ExecStart", "TimeoutStartSec", "Restart", "RestartSec", "PrivateNetwork", *_SANDBOX},
    },
    "madash-stunnel.service": {
        "Unit": {"Description", "Documentation", "After", "Wants"},
        "Service": {"Type", "ExecStart", "ExecReload", "User", "Group", "Restart", "RestartSec", "PrivateUsers",
                    "AmbientCapabilities", *_SANDBOX, *_CONFINED},
        "Install": {"WantedBy"},
    },
}  # fmt: skip


def capabilities(low_port: bool) -> dict[str, dict[str, str | None]]:
    """What madash-stunnel.service grants: CAP_NET_BIND_SERVICE for a port below 1024, else nothing at all."""
    if low_port:
        cap = "CAP_NET_BIND_SERVICE"
        return {"Service": {"AmbientCapabilities": cap, "CapabilityBoundingSet": cap, "PrivateUsers": None}}
    return {"Service": {"AmbientCapabilities": None, "CapabilityBoundingSet": "", "PrivateUsers": "yes"}}


COMPOSE_KEYS = {
    "influxdb": {"image", "restart", "ports", "environment", "volumes"},
    "grafana": {"image", "restart", "depends_on", "ports", "environment", "volumes"},
    "probe": {"image", "restart", "depends_on", "cap_add", "environment", "volumes"},
}
