"""The ``campaign-exporter`` command: its flags (parsing and ``--help``, one table), the log
format, and the modes that do not run the exporter (``--config.check``, ``--demo``,
``--healthcheck``). The top of the tree: it may import every stage, and nothing imports it
but ``exporter.__main__``."""
