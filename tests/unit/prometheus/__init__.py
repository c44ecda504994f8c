"""Unit tests of the Prometheus mixin (prometheus/mixin.py) and the rules it made."""
