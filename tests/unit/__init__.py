"""Unit tests, a package per exporter package (and per shipped generator): no process is
started, nothing listens but in this process, time is a manual clock."""
