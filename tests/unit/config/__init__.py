"""Unit tests of exporter.config."""
