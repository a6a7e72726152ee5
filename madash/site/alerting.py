"""madash.toml's [alerts] table: where Grafana sends alerts, and the thresholds of the default rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from madash.errors import UsageError
from madash.site.schema import Check
from madash.site.schema import check as _check
from madash.site.urls import check_http_url
from madash.site.values import check_ip_address, check_no_variable, is_dns_name, is_ip_address, shown

# An address Grafana's email notifier and an SMTP relay both take: no display name, no quoting.
_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9.-]{1,253})")
_RELAY_RE = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})")


def check_email(value: str) -> str:
    match = _EMAIL_RE.fullmatch(value)
    if match is None or not is_dns_name(match[2]) or "." not in match[2] or match[1].startswith("."):
        raise UsageError(f"{shown(value)} is not an email address such as ops@example.org")
    return value


def _emails(values: tuple[str, ...]) -> None:
    for value in values:
        check_email(value)
    if len(set(values)) != len(values):
        raise UsageError("names an address twice")


def check_relay(value: str) -> str:
    """An SMTP relay as Grafana's [smtp] host takes it: HOST:PORT, an IPv6 address in brackets."""
    if not value:
        return value
    match = _RELAY_RE.fullmatch(value)
    message = f"{shown(value)} is not a relay such as smtp.example.org:587 (a host and a port 1 to 65535)"
    if match is None or not 0 < int(match[3]) < 65536:
        raise UsageError(message)
    host = match[1] or match[2]
    if match[1]:
        check_ip_address(host)
    elif not (is_ip_address(host) or is_dns_name(host)):
        raise UsageError(message)
    return value


def _webhook(value: str) -> None:
    if value:
        check_no_variable(value, "the URL")
        check_http_url(value)


def _range(low: int, high: int, what: str) -> dict[str, Check]:
    def check(value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"{value} is not {what} from {low} to {high}")

    return _check(check)


@dataclass(frozen=True)
class AlertsSection:
    # Email goes through this relay (HOST:PORT) to these addresses; a webhook gets a POST for each notification.
    email_to: tuple[str, ...] = field(default=(), metadata=_check(_emails))
    smtp_relay: str = field(default="", metadata=_check(check_relay))
    smtp_from: str = field(default="", metadata=_check(lambda v: v and check_email(v)))
    webhook_url: str = field(default="", metadata=_check(_webhook))
    # The default rules' thresholds.
    silent_minutes: int = field(default=10, metadata=_range(2, 1440, "a number of minutes"))
    disk_percent: int = field(default=90, metadata=_range(50, 99, "a percentage"))
    inodes_percent: int = field(default=90, metadata=_range(50, 99, "a percentage"))
    loss_percent: int = field(default=20, metadata=_range(1, 100, "a percentage"))
    cert_days: int = field(default=30, metadata=_range(1, 365, "a number of days"))

    def consistency(self) -> tuple[str, str] | None:
        """A key and why, when the table says something that cannot work."""
        if self.email_to and not self.smtp_relay:
            return "smtp_relay", "is needed to send email to alerts.email_to"
        if (self.smtp_relay or self.smtp_from) and not self.email_to:
            return "email_to", "is needed: an SMTP relay is set but no one to mail"
        return None
