"""AWS-supplied strings (tag values, names, failure and alarm reasons) are rendered as text, never as Markdown or
HTML: a team tag holding a link and an image was shown as a live link and a tracking image on the endpoint page.
Pages are rendered by the real shell on a tiny store holding planted values; no element that renders Markdown
(markdown, captions, headings, alerts, labels, help) may carry the link, image or HTML syntax unescaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.nav import PAGES
from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

EVIL = ("[x](https://evil.example) ![t](https://evil.example/t.png) <img src=https://evil.example/p.gif> "
        "**loud** :red[red]")
NAME = "ep-[x](https://evil.example)"
JOB = "job-![t](https://evil.example/t.png)"
ARN = "arn:aws:sagemaker:us-east-1:111111111111:pipeline/p/execution/evil"
UNSAFE = ("](https://evil", "![", "<img", "https://evil.example", "**loud**", ":red[")
ACCOUNT = {"account_id": "111111111111", "region": "us-east-1"}


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def markdown_texts(at: AppTest) -> list[str]:
    """The strings of every element that Streamlit renders as Markdown: bodies of markdown, captions, headings and
    alerts, and the labels and help of metrics, widgets, expanders, tabs and page links. Dataframes, code and text
    elements render their content as text and are left out."""
    texts = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or getattr(node, "type", "") in ("dataframe", "arrow_data_frame", "code", "text"):
            continue
        for field in ("body", "label", "help"):
            value = getattr(proto, field, None)
            if isinstance(value, str) and value:
                texts.append(value)
    return texts


@pytest.fixture
def planted(tiny_store):  # noqa: F811 - the imported fixture
    now = datetime.now(UTC).replace(microsecond=0)
    tiny_store(
        aws_sagemaker_endpoint=[{**ACCOUNT, "endpoint_name": NAME, "status": "InService", "team": EVIL, "env": EVIL,
                                 "endpoint_config_name": EVIL, "creation_time": now - timedelta(days=3)}],
        aws_sagemaker_endpoint_variant=[{**ACCOUNT, "endpoint_name": NAME, "variant_name": "AllTraffic",
                                         "instance_type": "ml.m5.large", "current_instance_count": 1}],
        aws_sagemaker_training_job=[{**ACCOUNT, "training_job_name": JOB, "status": "Failed", "failure_reason": EVIL,
                                     "secondary_status": "Failed", "team": EVIL, "instance_type": "ml.m5.large",
                                     "instance_count": 1, "spot": False, "creation_time": now - timedelta(hours=3),
                                     "training_end_time": now - timedelta(hours=1),
                                     "last_modified_time": now - timedelta(hours=1),
                                     "hyperparameters": '{"lr": "[x](https://evil.example)"}'}],
        aws_cloudwatch_alarm=[{**ACCOUNT, "alarm_name": EVIL, "state_value": "ALARM", "state_reason": EVIL,
                               "state_updated_at": now - timedelta(minutes=30), "endpoint_name": NAME,
                               "metric_name": "ModelLatency"}],
        aws_sagemaker_pipeline=[{**ACCOUNT, "pipeline_name": EVIL, "team": EVIL}],
        aws_sagemaker_pipeline_execution=[{**ACCOUNT, "pipeline_name": EVIL, "execution_arn": ARN,
                                           "display_name": EVIL, "status": "Failed", "failed_step": EVIL,
                                           "failure_reason": EVIL, "start_time": now - timedelta(hours=2),
                                           "end_time": now - timedelta(hours=1)}],
    )


def _open(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"../{page}").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(("page", "query"), [
    (None, {}),  # the overview: needs attention (failed job, alarm, failed pipeline run)
    ("pages/endpoints.py", {"endpoint": NAME}),
    ("pages/training.py", {"job": JOB}),
    ("pages/pipelines.py", {"execution": ARN}),
])
def test_aws_strings_are_never_markdown(planted, page, query):
    at = _open(page, **query)
    texts = markdown_texts(at)
    offending = [t for t in texts if any(u in t for u in UNSAFE)]
    assert offending == []
    assert any("evil" in t for t in texts), "the planted values were not rendered: the test proves nothing"


@pytest.mark.parametrize(("page", "query"), [
    ("pages/models.py", {"group": EVIL}),  # a query parameter is user-controlled text too
    ("pages/incident.py", {"resource": NAME}),
    ("pages/logs.py", {"resource": NAME}),
    ("pages/endpoints.py", {"endpoint": EVIL}),
    ("pages/training.py", {"job": EVIL}),
    *[(p.path, {}) for p in PAGES[1:]],
])
def test_no_page_renders_planted_markdown(planted, page, query):
    offending = [t for t in markdown_texts(_open(page, **query)) if any(u in t for u in UNSAFE)]
    assert offending == []


def test_the_endpoint_page_shows_the_team_tag_as_text(planted):
    at = _open("pages/endpoints.py", endpoint=NAME)
    assert any(ui.plain(EVIL) in c.value for c in at.caption), [c.value for c in at.caption]


def test_plain_escapes_markdown_and_drops_html():
    text = ui.plain("[x](https://evil.example)\n![t](u) <b>bold</b> <img src=x> `code` # h $m$ :material/home:")
    assert "<" not in text and ">" not in text and "\n" not in text
    for raw in ("](", "![", "`code`", "$m$", ":material/"):
        assert raw not in text
    assert text.replace("\\", "") == "[x](https://evil.example) ![t](u) bold `code` # h $m$ :material/home:"
    assert ui.plain(None) == "–" and ui.plain(float("nan")) == "–" and ui.plain("vision") == "vision"
