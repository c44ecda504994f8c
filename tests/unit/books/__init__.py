"""Unit tests of exporter.books."""
