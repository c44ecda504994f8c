"""The books: what is known of each campaign, done once for every source: the ledger
(selection, shard, cap, retention, last good values), what a read is and brings back
(``reads``), the reasons a read failed or a campaign was passed over, which campaigns this
replica owns (``shard``) and the books on disk (``storage``: the writer; ``file``: the SQLite
file; ``records``: what it holds, the upstream client's learned paces among them). Sources
import its types (``Book``, ``Read``), the upstream client its ``LearnedPace``; it may import
the clock and the config's types, never a source."""
