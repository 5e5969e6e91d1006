"""Partial failure and bad configuration, through the CLI an operator runs: each problem gets a clear message
naming the fix, the exit status says what happened, and the sources that can be collected still are."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import duckdb
import pytest

from sextant.settings import load
from tests.conftest import ROOT
from tests.reliability.conftest import run_cli

pytestmark = pytest.mark.xdist_group("frozen")


def _run(tmp_path, acc, *args: str, faults: dict | None = None, config: str | None = None):
    argv = ["run", "--once", "--store", str(tmp_path / "store")]
    if config is not None:
        (tmp_path / "sextant.toml").write_text(config)
        argv += ["--config", str(tmp_path / "sextant.toml")]
    return run_cli([*argv, *args], acc, faults=json.dumps(faults) if faults is not None else None)


def _runs(tmp_path) -> dict[tuple[str, str], tuple[str, str | None]]:
    con = duckdb.connect(str(tmp_path / "store" / "writer.duckdb"), read_only=True)
    try:
        return {(s, r): (st, h) for s, r, st, h in con.execute(
            "SELECT source, region, status, hint FROM sextant_collection_run").fetchall()}
    finally:
        con.close()


def _count(tmp_path, table: str) -> int:
    con = duckdb.connect(str(tmp_path / "store" / "writer.duckdb"), read_only=True)
    try:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        con.close()


def cli_env_no_aws() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "AWS_"))}


# ----------------------------------------------------------------------------------- malformed settings
BAD_SETTINGS = [
    ("[collect\nhot_every = '5m'\n", ["is not valid TOML", "line 1", "fix the line it names"]),
    ("[collect]\nhot_evry = '5m'\n", ["unknown key collect.hot_evry", "did you mean hot_every?", "known keys:"]),
    ("[collect]\nhot_every = '5 minutes'\n", ["collect.hot_every", "invalid duration '5 minutes'",
                                              "e.g. 30s, 5m, 1h, 1d"]),
    ("[collect]\nmetric_point_retention = 'forever'\n", ["collect.metric_point_retention",
                                                          "invalid duration 'forever'", "e.g. 30s, 5m, 1h, 1d"]),
    ("[collect]\nbackfill_days = 'thirty'\n", ["collect.backfill_days", "expected a whole number"]),
    ("[collect]\ntag_keys = 'team'\n", ["collect.tag_keys", "expected a list of strings"]),
    ("[colect]\nhot_every = '5m'\n", ["unknown section(s) ['colect']", "known: accounts, actions, alerts, auth"]),
    ("[[accounts]]\nname = 'prod'\nregion = ['us-east-1']\n", ["unknown key accounts.region",
                                                                "did you mean regions?"]),
    ("[auth]\nlocal_admin = 'yes'\n", ["auth.local_admin", "expected true or false"]),
]


@pytest.mark.parametrize("text,expected", BAD_SETTINGS, ids=[m[0] for _, m in BAD_SETTINGS])
def test_a_malformed_settings_file_is_refused_with_a_message_naming_the_fix(tmp_path, text, expected):
    (tmp_path / "sextant.toml").write_text(text)
    p = subprocess.run([sys.executable, "-m", "collectors", "run", "--once", "--config", str(tmp_path / "sextant.toml"),
                        "--store", str(tmp_path / "store")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**cli_env_no_aws(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    for text_ in expected:
        assert text_ in p.stderr, (text_, p.stderr)
    assert not (tmp_path / "store").exists(), "nothing is written with a broken settings file"


def test_a_retention_is_written_as_a_duration(tmp_path):
    (tmp_path / "sextant.toml").write_text("[collect]\nmetric_point_retention = \"2d\"\n")
    assert load(tmp_path / "sextant.toml").collect.metric_point_retention_s == 2 * 86400


@pytest.mark.parametrize("args,expected", [
    (["--every", "5x"], "invalid duration '5x'"),
    (["--since", "last tuesday"], "use YYYY-MM-DD"),
    (["--source", "sagemaker_endpoint"], "unknown source(s) sagemaker_endpoint; known: sagemaker_endpoints"),
    (["--config", "/nonexistent/sextant.toml"], "settings file /nonexistent/sextant.toml does not exist"),
])
def test_bad_command_line_arguments_name_the_fix(tmp_path, args, expected):
    p = subprocess.run([sys.executable, "-m", "collectors", "run", "--store", str(tmp_path / "store"), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=cli_env_no_aws())
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert expected in p.stderr and "Traceback" not in p.stderr, p.stderr


# ----------------------------------------------------------------------------------- partial failure
def test_access_denied_on_one_service_names_the_permission_and_the_other_sources_are_collected(frozen, tmp_path):
    p = _run(tmp_path, frozen, "--source", "cloudwatch_logs", "--source", "cloudwatch_alarms", "--source",
             "sagemaker_endpoints", faults={"permanent": {"logs": "access_denied"}})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 source(s) failed" in p.stdout
    assert "ERR cloudwatch_logs" in p.stdout and "AccessDeniedException" in p.stdout
    assert ("hint: grant logs:DescribeLogGroups to the collector's role (docs/iam/collector-policy.json lists "
            "every action Sextant reads); other sources were still collected") in p.stdout
    assert "ok  cloudwatch_alarms" in p.stdout and "ok  sagemaker_endpoints" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    runs = _runs(tmp_path)
    assert runs[("cloudwatch_logs", "us-east-1")][0] == "failed"
    assert "logs:DescribeLogGroups" in runs[("cloudwatch_logs", "us-east-1")][1]
    assert _count(tmp_path, "aws_cloudwatch_alarm") > 0 and _count(tmp_path, "aws_sagemaker_endpoint") > 0


def test_access_denied_on_cloudwatch_names_the_iam_action_not_the_signing_name(frozen, tmp_path):
    """CloudWatch signs as ``monitoring``; the permission to grant is ``cloudwatch:DescribeAlarm...``."""
    p = _run(tmp_path, frozen, "--source", "cloudwatch_alarms", faults={"permanent": {"cloudwatch": "access_denied"}})
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"hint: grant cloudwatch:DescribeAlarm(s|History) to the collector's role", p.stdout), p.stdout
    assert "monitoring:" not in p.stdout


def test_expired_credentials_say_refresh_them(frozen, tmp_path):
    p = _run(tmp_path, frozen, "--source", "cloudwatch_alarms", "--source", "sagemaker_endpoints",
             faults={"permanent": {"*": "expired_token"}})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "2 source(s) failed" in p.stdout
    assert p.stdout.count("hint: credentials expired: refresh them (aws sso login / new session) and run again") == 2
    assert "ExpiredToken" in p.stdout and "Traceback" not in p.stdout + p.stderr
    assert {st for st, _ in _runs(tmp_path).values()} == {"failed"}


def test_credentials_expiring_mid_run_keep_what_was_collected_before(frozen, tmp_path):
    # GetCallerIdentity + the 2 alarm calls succeed; the token expires before the endpoints source starts.
    p = _run(tmp_path, frozen, "--source", "cloudwatch_alarms", "--source", "sagemaker_endpoints",
             faults={"permanent": {"*": "expired_token"}, "permanent_after": 3})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "ok  cloudwatch_alarms" in p.stdout and "ERR sagemaker_endpoints" in p.stdout
    assert "hint: credentials expired: refresh them" in p.stdout
    assert _count(tmp_path, "aws_cloudwatch_alarm") > 0 and _count(tmp_path, "aws_sagemaker_endpoint") == 0


def test_an_unknown_region_fails_only_its_own_sources_with_the_fix(frozen, tmp_path):
    config = "[[accounts]]\nname = 'main'\nregions = ['us-east-1', 'mars-north-1']\n"
    p = _run(tmp_path, frozen, "--source", "cloudwatch_alarms", config=config)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 source(s) failed" in p.stdout
    assert "ok  cloudwatch_alarms        123456789012/us-east-1" in p.stdout
    assert "ERR cloudwatch_alarms        123456789012/mars-north-1" in p.stdout
    assert ("hint: 'mars-north-1' is not an AWS region (did you mean eu-north-1?): fix regions = [...] for this "
            "account in sextant.toml") in p.stdout
    runs = _runs(tmp_path)
    assert runs[("cloudwatch_alarms", "us-east-1")][0] == "succeeded"
    assert runs[("cloudwatch_alarms", "mars-north-1")][0] == "failed"
    assert _count(tmp_path, "aws_cloudwatch_alarm") > 0


def test_tag_keys_names_exactly_the_team_tag_and_the_project_tag(tmp_path):
    from sextant.settings import SettingsError, load

    config = tmp_path / "sextant.toml"
    config.write_text("[collect]\ntag_keys = ['owner']\n")
    with pytest.raises(SettingsError, match=r"collect.tag_keys = \['owner'\]: must list exactly 2 names"):
        load(config)
    config.write_text("[collect]\ntag_keys = ['owner', 'product']\n")
    assert load(config).collect.tag_keys == ("owner", "product")
