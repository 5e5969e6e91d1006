"""Who is looking, and what they may do: viewer, operator or admin.

Identity, first match wins:
1. ``st.user`` when ``st.login`` (OIDC) is configured in ``.streamlit/secrets.toml`` and the user logged in;
2. a trusted header set by a reverse proxy (``[auth] trusted_header``, e.g. ``X-Forwarded-Email``) — only
   enable it behind a proxy that strips the header from client requests;
3. the single local admin of a demo (``[auth] local_admin = true`` or ``SEXTANT_LOCAL_ADMIN=1``).
Anyone else is an anonymous viewer. Roles come from ``[auth] admins`` / ``operators`` (lists of emails
or names); everyone identified but unlisted is a viewer. The action layer checks the role again, so
hiding the controls is a convenience, not the guard.
"""

from __future__ import annotations

import streamlit as st

from actions.roles import Actor, role_of
from sextant.settings import Settings, load


def _oidc_identity() -> str | None:
    try:
        if st.user.is_logged_in:
            return st.user.get("email") or st.user.get("name")
    except Exception:  # st.user needs auth configured; without it there is no OIDC identity
        return None
    return None


def current_actor(settings: Settings | None = None) -> Actor:
    settings = settings or load()
    name = _oidc_identity()
    if name:
        return Actor(name, role_of(name, settings))
    header = settings.auth.trusted_header
    if header:
        value = st.context.headers.get(header)
        if value:
            return Actor(value, role_of(value, settings))
    if settings.auth.local_admin:
        return Actor("local-admin", "admin")
    return Actor("anonymous", "viewer")
