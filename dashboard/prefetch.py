"""Warm the chart library while the viewer reads the page.

Streamlit loads Plotly's renderer (its ``PlotlyChart`` chunk: 4.7 MB of JavaScript) the first time a tab shows a
Plotly chart, and evaluating it is the largest single task of that page in the browser (1-2 s on a 2-core machine).
A viewer who opens the Overview (no Plotly chart) and then an endpoint paid for it on that second page. Here, once
the page has settled and the browser is idle, the chunk is imported in the background, as single-page applications
prefetch the code of their next routes: the next page's charts then draw at once. The module is the very file
Streamlit's own lazy import asks for (same URL, so the browser evaluates it once); when this Streamlit has no such
chunk (another version's layout), nothing is done.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

_STATIC_JS = Path(st.__file__).parent / "static" / "static" / "js"


@functools.cache
def plotly_chunk() -> str | None:
    """The file name of Streamlit's Plotly chunk (``PlotlyChart.<hash>.js``), or None."""
    found = sorted(p.name for p in _STATIC_JS.glob("PlotlyChart.*.js"))
    return found[0] if len(found) == 1 else None


# waits for the page's run to finish (no competition with its own rendering), then imports the chunk when idle;
# once per tab
_SCRIPT = """<script>
(() => {
  if (window.__sextantPrefetch) return;
  window.__sextantPrefetch = true;
  const main = [...document.scripts].map((s) => s.src).find((s) => /\\/static\\/js\\/index\\.[^/]+\\.js$/.test(s));
  if (!main) return;
  const url = main.replace(/index\\.[^/]+\\.js$/, CHUNK);
  const settled = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute("data-test-script-state");
    return state && state !== "initial" && state !== "running";
  };
  const idle = window.requestIdleCallback || ((f) => setTimeout(f, 1));
  const go = () => (settled() ? idle(() => import(url).catch(() => {})) : setTimeout(go, 250));
  setTimeout(go, 250);
})();
</script>"""


def html() -> str | None:
    """The element's HTML (None when there is nothing to prefetch)."""
    chunk = plotly_chunk()
    return None if chunk is None else _SCRIPT.replace("CHUNK", json.dumps(chunk))


def chart_library() -> None:
    """Prefetch Plotly's renderer in this tab (an invisible element at the end of the sidebar)."""
    body = html()
    if body is not None:
        with st.sidebar:
            st.html(body, unsafe_allow_javascript=True)
