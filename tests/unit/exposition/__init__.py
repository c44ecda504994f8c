"""Unit tests of exporter.exposition."""
