"""Unit tests of exporter.sources."""
