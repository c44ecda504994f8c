"""Unit tests of exporter.cli."""
