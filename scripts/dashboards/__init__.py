"""madash's Grafana dashboards as typed code (grafana-foundation-sdk, a development dependency).

scripts/write_dashboards.py writes them to dashboards/*.json, which stay committed and ship in madash-server;
tests/test_dashboards_code.py regenerates them and fails on any difference. The toolkit never imports this.
"""
