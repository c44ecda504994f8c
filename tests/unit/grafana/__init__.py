"""Unit tests of grafana/dashboards.py."""
