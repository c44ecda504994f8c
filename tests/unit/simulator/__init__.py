"""Unit tests of exporter.simulator."""
