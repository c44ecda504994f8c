"""Unit tests of exporter.http."""
