"""Unit tests of exporter.run."""
