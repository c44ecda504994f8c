"""``python -m exporter``, the same as the ``campaign-exporter`` command."""

from .cli.main import main

raise SystemExit(main())
