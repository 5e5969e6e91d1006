"""Who may act: an actor's role from the settings' lists. The action service checks it on every request."""

from __future__ import annotations

from dataclasses import dataclass

from sextant.settings import Settings


@dataclass(frozen=True)
class Actor:
    name: str
    role: str  # viewer | operator | admin

    def can_act(self) -> bool:
        return self.role in ("operator", "admin")


def role_of(name: str, settings: Settings) -> str:
    if name in settings.auth.admins:
        return "admin"
    if name in settings.auth.operators:
        return "operator"
    return "viewer"
