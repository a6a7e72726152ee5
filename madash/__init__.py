"""madash: bake Debian packages for a self-hosted Grafana + InfluxDB + Telegraf site."""

__version__ = "0.1.0"
