"""Grafana dashboards described in Python and pushed to Grafana (``docs/dashboards.md``)."""
