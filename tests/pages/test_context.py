"""Context kept across pages: Training opens on a range that shows finished jobs, the page filters live in the URL so a
shared link reproduces the view, a click on a name in a table opens its page with the sidebar's filters, and lineage
links a serving version to the job that trained it and back."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from demo import world as world_mod

SERVING = "fraud-txn-scorer-prod"  # serves fraud-txn-scorer v7 in the demo


def _table(at, *columns):
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _links(at) -> set[tuple[str, str]]:
    return {(pl.proto.page, pl.proto.query_string) for pl in at.get("page_link")}


def test_training_opened_without_a_range_lists_the_last_7_days_with_finished_jobs(app, demo_store):
    at = app("pages/training.py")
    assert at.selectbox(key="f_range").value == "7d"
    assert at.query_params["range"] == "7d"
    jobs = _table(at, "training_job_name", "status")
    (finished,) = demo_store.query("SELECT count(*) FROM aws_sagemaker_training_job WHERE training_end_time >= "
                                   "now() - INTERVAL 7 DAY")[0]
    assert (jobs.status != "In progress").sum() == finished > 0
    assert jobs.duration_min.notna().sum() >= finished
    caption = " ".join(c.value for c in at.caption)
    assert "opens on 7 days" in caption and "still running" in caption


def test_training_keeps_the_range_a_link_names(app):
    at = app("pages/training.py", range="24h")
    assert at.selectbox(key="f_range").value == "24h"
    assert "opens on 7 days" not in " ".join(c.value for c in at.caption)


def test_a_link_with_training_filters_opens_the_filtered_list(app, demo_store):
    at = app("pages/training.py", range="90d", tr_status="Failed", tr_spot="Spot")
    jobs = _table(at, "training_job_name", "status")
    (expected,) = demo_store.query(
        "SELECT count(*) FROM aws_sagemaker_training_job WHERE status = 'Failed' AND spot "
        "AND (training_end_time IS NULL OR training_end_time >= now() - INTERVAL 90 DAY)")[0]
    assert len(jobs) == expected > 0 and set(jobs.status) == {"Failed"} and jobs.spot.all()
    assert at.multiselect(key="tr_status").value == ["Failed"]


def test_a_link_with_pipeline_filters_opens_the_filtered_executions(app):
    at = app("pages/pipelines.py", range="30d", pl_status="Failed")
    runs = _table(at, "pipeline", "status", "failed_step")
    assert len(runs) > 0 and set(runs.status) == {"Failed"}


def test_a_link_with_savings_thresholds_opens_them(app):
    at = app("pages/cost.py", tab="Savings", idle_days="30", cpu_below="35")
    assert at.number_input(key="idle_days").value == 30
    assert at.slider(key="cpu_below").value == 35
    assert any("zero invocations for 30+ days" in m.value for m in at.markdown)


def test_a_click_on_an_endpoint_name_on_overview_opens_it_with_the_range(app):
    at = app(range="7d")
    health = _table(at, "endpoint_name", "health")
    row = int((health.endpoint_name == SERVING).to_numpy().nonzero()[0][0])
    at.session_state["ov_health"] = {"selection": {"rows": [], "columns": [], "cells": [[row, "endpoint_name"]]}}
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["endpoint"] == SERVING and at.query_params["range"] == "7d"
    assert SERVING in [h.value.replace("\\", "") for h in at.subheader]  # the detail's header (Markdown-escaped)


def test_a_click_on_an_endpoint_name_on_the_endpoints_list_opens_its_detail(app):
    at = app("pages/endpoints.py", range="24h", team="fraud")
    table = _table(at, "endpoint_name", "status")
    assert set(table.endpoint_name) >= {SERVING}
    row = int((table.endpoint_name == SERVING).to_numpy().nonzero()[0][0])
    at.session_state["endpoints"] = {"selection": {"rows": [], "columns": [], "cells": [[row, "endpoint_name"]]}}
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["endpoint"] == SERVING
    assert at.query_params["team"] == "fraud" and at.query_params["range"] == "24h"
    assert at.button(key="ep_back")  # the detail view


def test_a_version_links_to_the_job_that_trained_it_and_the_endpoints_serving_it(app, demo_store):
    at = app("pages/models.py", group="fraud-txn-scorer", version="7")
    versions = _table(at, "version", "training_job").set_index("version")
    job = versions.loc[7, "training_job"]
    assert isinstance(job, str) and job.startswith("fraud-")
    [(url,)] = demo_store.query("SELECT model_data_url FROM aws_sagemaker_model_package "
                                "WHERE group_name = 'fraud-txn-scorer' AND version = 7")
    assert url.endswith(f"/{job}/output/model.tar.gz")
    links = _links(at)
    assert ("training", f"job={job}") in links
    assert ("endpoints", f"endpoint={SERVING}") in links


def test_a_training_job_shows_what_it_produced_its_image_digest_and_its_data(app, demo_store):
    traced = world_mod.package_training_jobs(world_mod.build_world(7))
    job = traced[(world_mod.MAIN_ACCOUNT, "fraud-txn-scorer", 7)].name
    at = app("pages/training.py", job=job)
    produced = _table(at, "model_group", "model_version", "endpoint_name")
    assert {(g, int(v), e) for g, v, e in zip(produced.model_group, produced.model_version, produced.endpoint_name,
                                                strict=True) if pd.notna(e)} >= {("fraud-txn-scorer", 7, SERVING)}
    [(image, digest)] = demo_store.query(
        "SELECT j.image, i.image_digest FROM aws_sagemaker_training_job j JOIN aws_ecr_image i "
        "ON i.account_id = j.account_id AND j.image LIKE '%/' || i.repository_name || ':%' "
        "AND list_contains(CAST(from_json(i.image_tags, '[\"VARCHAR\"]') AS VARCHAR[]), split_part(j.image, ':', 2)) "
        "WHERE j.training_job_name = ?", [job])
    assert image.startswith(f"{world_mod.MAIN_ACCOUNT}.dkr.ecr.")
    assert any(digest in c.value.replace("\\", "") for c in at.caption), "the job's image digest is shown"
    channels = _table(at, "channel", "s3_uri")
    assert set(channels.channel) == {"train", "validation"} and channels.s3_uri.str.startswith("s3://").all()


MODEL_LINE = """
import streamlit as st
from dashboard import lineage, nav
st.navigation([nav.page(p) for p in nav.PAGES], position="hidden")
lineage.model_line("{account}", "us-east-1", "{endpoint}")
"""


def test_the_endpoint_model_line_links_to_its_version_and_job(demo_store, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(demo_store.settings.store))
    at = AppTest.from_string(MODEL_LINE.format(account=world_mod.MAIN_ACCOUNT, endpoint=SERVING),
                             default_timeout=60).run()
    assert not at.exception, at.exception
    job = world_mod.package_training_jobs(world_mod.build_world(7))[(world_mod.MAIN_ACCOUNT, "fraud-txn-scorer", 7)]
    links = _links(at)
    assert ("models", "group=fraud-txn-scorer&version=7") in links
    assert ("training", f"job={job.name}") in links


def test_the_incident_picker_follows_the_url_and_writes_the_viewers_pick(app):
    at = app("pages/incident.py", resource=SERVING)
    assert at.selectbox(key="inc_resource").value == SERVING
    at.query_params["resource"] = "search-ranker-prod"  # a link (or a picked alarm period) names another endpoint
    at.run()
    assert at.selectbox(key="inc_resource").value == "search-ranker-prod"
    at.selectbox(key="inc_resource").set_value(SERVING).run()
    assert at.query_params["resource"] == SERVING and at.selectbox(key="inc_resource").value == SERVING
