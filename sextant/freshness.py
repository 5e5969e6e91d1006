"""How fresh a source's data must be: its expected cadence, and the multiples of it that make it late or stale.

One rule for the Collection page's freshness (``dashboard.queries.collection``) and the alerts' stale-source rule
(``alerts.rules``): a source is expected every ``[collect] hot_every`` unless named in :func:`cadence_s`; its data is
fresh up to ``FRESH_WITHIN`` x that cadence, late up to ``LATE_WITHIN`` x, stale beyond.
"""

from __future__ import annotations

from sextant.settings import Settings

FRESH_WITHIN = 2  # x the expected cadence: fresh; up to LATE_WITHIN x: late; beyond: stale
LATE_WITHIN = 6


def cadence_s(settings: Settings) -> dict[str, int]:
    """Expected seconds between fresh data per source where it is not the hot cadence: Cost Explorer's refresh and
    cold metrics' cadence (every other source is expected every ``collect.hot_every_s``)."""
    c = settings.collect
    return {"cost_explorer": c.cost_refresh_every_s, "cloudwatch_logs": c.cold_every_s}


def expected_every_s(source: str, settings: Settings) -> int:
    """Seconds between fresh data expected of ``source``."""
    return cadence_s(settings).get(source, settings.collect.hot_every_s)
