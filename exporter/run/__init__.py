"""The running exporter: wiring, signals and reloads (``app``), the fleet of running sources
(``fleet``), each source's reads spent by urgency and published as they land
(``scheduler``, with its ``readqueue``, ``rounds`` and ``publication``) and the process's
memory (``memory``). It imports every stage below the command; only ``exporter.cli``
imports it."""
