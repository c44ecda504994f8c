"""Unit tests of the docs (docs/, README.md, config.example.yaml) against the code."""
