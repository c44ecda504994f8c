"""``python -m exporter``, the same as the ``campaign-exporter`` command."""

from .cli import main

raise SystemExit(main())
