"""The books: what is known of each campaign, done once for every source: the ledger
(selection, shard, cap, retention, last good values), what a read is and brings back
(``reads``), the reasons a read failed or a campaign was passed over, which campaigns this
replica owns (``shard``) and the books on disk (``storage``). Sources import its types
(``Book``, ``Read``); it may import the clock and the config's types, and
``exporter.upstream.pacing`` for the learned pace it stores until that record moves here;
never a source."""
