"""The reference store generator, at a tiny scale: it must keep producing a store the product reads."""

from __future__ import annotations

from sextant.store import Reader


def test_tiny_reference_store_opens_through_the_reader_and_pages_get_rows(tmp_path, monkeypatch):
    from bench import reference

    scale = reference.Scale.of(0.005)
    facts = reference.generate(tmp_path / "ref", scale, log=lambda _: None)
    # The 5-minute/1-minute split and the window start are rounded to whole hours: at most an hour of points
    # per series either way.
    per_hour = scale.variants * len(reference.VARIANT_SERIES) * 60
    assert abs(facts["points"] - scale.points) <= per_hour, (facts["points"], scale.points)

    reader = Reader(tmp_path / "ref")
    try:
        con = reader.connection()
        assert con is not None  # published as a snapshot, like the collector's
        counts = dict(con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE table_name LIKE 'aws_%'").fetchall())
        for name in ("aws_sagemaker_endpoint", "aws_cloudwatch_metric_hourly", "aws_cost_daily",
                     "aws_sagemaker_training_job", "aws_logs_event"):
            assert counts.get(name), name
    finally:
        reader.close()

    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "ref"))
    from bench import pagesets

    pagesets.clear_cache()
    ctx = pagesets.make_ctx()
    from dashboard.queries import cost, health
    from dashboard.queries import endpoints as eq

    eps = eq.endpoints(ctx.f)
    assert len(eps) == scale.endpoints and eps.invocations_24h.sum() > 0
    assert not eq.endpoint_metrics(ctx.account, ctx.region, ctx.endpoint, ctx.f.start, ctx.f.end).empty
    assert not cost.daily_cost(ctx.f, "team", ctx.today.replace(day=1), ctx.today).empty or ctx.today.day == 1
    assert set(health.endpoint_health(ctx.f).health) <= {"ok", "degraded", "idle"}
    for run in pagesets.SQL_SETS.values():  # every page's query set runs on the generated store
        run(ctx)
    pagesets.clear_cache()
