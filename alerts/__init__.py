"""Alerts: rules over the store, their lifecycle (pending -> firing -> resolved) and the channels that notify.

A room of its own (docs/ALERTS.md): it imports the core (``sextant``) only. The collector evaluates the rules at the
end of each cycle, before it publishes (:func:`evaluate`, one transaction), and sends the queued messages after the
publish (:func:`deliver`); ``python -m alerts evaluate`` does both for cron.
"""

from __future__ import annotations

from alerts.config import AlertConfig, AlertConfigError, Channel, UserRule, config
from alerts.delivery import Delivery, deliver
from alerts.lifecycle import Evaluation, evaluate
from alerts.rules import Rule, RuleError, builtins, check_sql
from alerts.tables import TABLES, ensure

__all__ = ["TABLES", "AlertConfig", "AlertConfigError", "Channel", "Delivery", "Evaluation", "Rule", "RuleError",
           "UserRule", "builtins", "check_sql", "config", "deliver", "ensure", "evaluate"]
