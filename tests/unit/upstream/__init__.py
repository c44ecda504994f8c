"""Unit tests of exporter.upstream."""
