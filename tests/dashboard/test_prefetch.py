"""The chart-library prefetch names a chunk this Streamlit really has, and its script is inert text otherwise."""

from __future__ import annotations

from dashboard import prefetch


def test_the_pinned_streamlit_has_one_plotly_chunk_and_the_script_imports_that_file():
    chunk = prefetch.plotly_chunk()
    assert chunk is not None and chunk.startswith("PlotlyChart.") and chunk.endswith(".js")
    assert (prefetch._STATIC_JS / chunk).stat().st_size > 1_000_000  # the renderer itself, not a stub
    body = prefetch.html()
    assert body is not None and f'"{chunk}"' in body and "CHUNK" not in body


def test_without_a_chunk_nothing_is_prefetched(monkeypatch, tmp_path):
    monkeypatch.setattr(prefetch, "_STATIC_JS", tmp_path)
    prefetch.plotly_chunk.cache_clear()
    try:
        assert prefetch.plotly_chunk() is None and prefetch.html() is None
    finally:
        prefetch.plotly_chunk.cache_clear()
