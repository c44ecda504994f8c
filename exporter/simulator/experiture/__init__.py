"""Experiture's public v1 Campaigns API, simulated: a workspace and the routes that read it.

Each campaign's state and counts are a pure function of the simulated clock, so the
truth at any instant is exact and tests can freeze or step the clock.

Beyond the vendor's docs, and named so: the OAuth token endpoint's path (``/oauth/token``;
the real URL is shown only in the vendor console), the fixed demo tokens, the statuses of
a bad token (401) and a missing scope (403), and the error codes ``UNAUTHORIZED``,
``FORBIDDEN``, ``NOT_FOUND``, ``VALIDATION_FAILED`` and ``INTERNAL_ERROR``; the docs
name only the 409 and 429 codes (``CONFLICT``, the code of a 409 that is not about the
campaign's type, is ours too).

Schedules follow the channel, as the docs' Schedule & Send page has them: email, sms and
push send ``at`` a ``sendAt`` (a few ``now``, without one); most direct mail goes out
``batch_on_date`` (a ``batchDate``, no time of day), some ``at`` a ``sendAt`` as the seed's
own direct-mail example shows. A batch is due from the start of its day in its time zone.
Audience reach carries every documented ``status`` and ``isStale``; the summary's
``preflight.status`` is ``not_evaluated``, the one value the docs show.

Besides the default mix, named fleets (``FLEETS``, picked by ``SimulatorSettings.preset``):
``long-used``, an account that has sent for years, for benchmarks of freshness.

The modules: ``campaign`` (one campaign as a function of the clock), ``fleets`` (the
default mix and the named fleets), ``world`` (the workspace, credentials and tokens),
``bodies`` (the JSON bodies) and ``api`` (the routes, token checks and control routes).
"""

from .api import ExperitureApi
from .campaign import SimCampaign
from .world import FULL_SCOPES, ExperitureWorld

__all__ = ["FULL_SCOPES", "ExperitureApi", "ExperitureWorld", "SimCampaign"]
