"""The reference store: a believable ML account at reference scale, generated in SQL in minutes.

Reference scale (``scale=1``): 100 endpoints x 2 variants x 10 metric series, 13 months of 5-minute
points plus the last 15 days at 1 minute (262 million points), the hourly and daily rollups of them and
the endpoint summary the collector keeps (``cloudwatch_metrics.summarize``), 10,000
training jobs, two years of daily cost by service x usage type, linked account, team and project,
and 5 million log lines; plus everything the pages join to (variants, configs, autoscaling, registry,
pipelines, Step Functions, alarms, collection runs).

The store is made the product's way: the tables are created by ``sextant.store.Writer.migrate``
from the collectors' own table definitions (so a schema change shows up here at once, and a column
the generator does not fill stays NULL), every value is bound as a parameter, identifiers come from
the table registry, and the result is published with ``Writer.publish`` as a snapshot that
``dashboard.data`` / ``Reader`` open exactly as in production (``SEXTANT_STORE=<dir>``).

Big tables are made with ``generate_series`` / ``range`` in DuckDB. Metric points are inserted in
time order, chunk by chunk and sorted by time within a chunk, as the collector appends them (each
batch sorted by time), and each chunk's hourly rollup is computed from the chunk's points with the
collector's own rule (1-minute points win over 5-minute); the daily rollup follows from the hourly.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

import collectors
from collectors import cloudwatch_metrics as cwm
from sextant import prices
from sextant.schema import SYSTEM_TABLES, Table, ident
from sextant.store import Writer

GENERATOR_VERSION = 9  # bump whenever the generated data changes: cached stores are keyed by it
ACCOUNT = "123456789012"
REGION = "us-east-1"
TEAMS = ("search", "fraud", "recs", "vision", "nlp", "ads", "risk", "growth")
PROJECTS = {"search": ("ranker", "query-embed"), "fraud": ("card-scoring", "ato"), "recs": ("home-feed", "similar"),
            "vision": ("ocr", "moderation"), "nlp": ("summarize", "classify"), "ads": ("ctr", "bidder"),
            "risk": ("credit", "aml"), "growth": ("churn", "ltv")}
HOST_TYPES = {"ml.m5.xlarge": 0.23, "ml.c5.2xlarge": 0.476, "ml.g5.xlarge": 1.408, "ml.g5.2xlarge": 1.515,
              "ml.inf2.xlarge": 0.99, "ml.m5.4xlarge": 0.922, "ml.g4dn.xlarge": 0.736}
TRAIN_TYPES = {"ml.p3.2xlarge": 3.825, "ml.g5.12xlarge": 7.09, "ml.m5.4xlarge": 0.922, "ml.c5.4xlarge": 0.952,
               "ml.g5.2xlarge": 1.515}
SPOT_DISCOUNT = 0.65
# the 10 metric series of a variant, and the statistic collected for each (what the pages read)
VARIANT_SERIES = (
    ("AWS/SageMaker", "Invocations", "Sum"),
    ("AWS/SageMaker", "Invocation4XXErrors", "Sum"),
    ("AWS/SageMaker", "Invocation5XXErrors", "Sum"),
    ("AWS/SageMaker", "ModelLatency", "p99"),
    ("AWS/SageMaker", "OverheadLatency", "p99"),
    ("/aws/sagemaker/Endpoints", "CPUUtilization", "Average"),
    ("/aws/sagemaker/Endpoints", "MemoryUtilization", "Average"),
    ("/aws/sagemaker/Endpoints", "DiskUtilization", "Average"),
    ("/aws/sagemaker/Endpoints", "GPUUtilization", "Average"),
    ("/aws/sagemaker/Endpoints", "GPUMemoryUtilization", "Average"),
)


@dataclass(frozen=True)
class Scale:
    """Sizes of the generated account; ``Scale.of(1.0)`` is the reference account."""

    factor: float
    endpoints: int
    history_days: int  # 5-minute points (13 months)
    minute_days: int  # 1-minute points (the newest 15 days)
    training_jobs: int
    cost_days: int
    log_lines: int

    @classmethod
    def of(cls, factor: float) -> Scale:
        return cls(factor, endpoints=max(2, round(100 * factor)), history_days=max(3, round(395 * factor)),
                   minute_days=max(1, round(15 * factor)), training_jobs=max(20, round(10_000 * factor)),
                   cost_days=max(70, round(730 * factor)), log_lines=max(2_000, round(5_000_000 * factor)))

    @property
    def variants(self) -> int:
        return 2 * self.endpoints

    @property
    def points(self) -> int:
        """Metric points the generator writes (to within the hour the chunk edges are rounded to)."""
        five = (self.history_days - self.minute_days) * 288
        return self.variants * len(VARIANT_SERIES) * (five + self.minute_days * 1440)

    def key(self) -> str:
        return f"v{GENERATOR_VERSION}-s{self.factor:g}"


def _tables() -> dict[str, Table]:
    return {t.name: t for t in collectors.all_tables()}


def _insert_df(con: duckdb.DuckDBPyConnection, t: Table, df: pd.DataFrame) -> int:
    """Insert a small DataFrame into a registry table, columns matched by name (the rest stay NULL)."""
    if df.empty:
        return 0
    unknown = set(df.columns) - set(t.column_names)
    if unknown:
        raise ValueError(f"{t.name}: no such column(s) {sorted(unknown)}")
    con.register("_gen", df)
    try:
        con.execute(f"INSERT INTO {ident(t.name)} BY NAME SELECT * FROM _gen")  # noqa: S608 - registry name
    finally:
        con.unregister("_gen")
    return len(df)


def _h(*parts) -> int:
    """A stable pseudo-random integer of its arguments (for believable, reproducible variety)."""
    return int(hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _u(*parts) -> float:
    """A stable pseudo-random number in [0, 1)."""
    return _h(*parts) / 2**32


# --------------------------------------------------------------------------- the resources


def _endpoints(scale: Scale, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    eps, variants = [], []
    for i in range(scale.endpoints):
        team = TEAMS[i % len(TEAMS)]
        project = PROJECTS[team][(i // len(TEAMS)) % 2]
        env = "prod" if i % 10 < 6 else "staging" if i % 10 < 9 else "dev"
        name = f"{project}-{env}-{i:03d}"
        created = now - timedelta(days=30 + int(_u("created", i) * 600))
        status = "Updating" if i % 37 == 5 else "Failed" if i % 53 == 7 else "InService"
        tags = {"team": team, "project": project, "env": env, "cost-center": f"cc-{1000 + i % 13}"}
        eps.append({"account_id": ACCOUNT, "region": REGION, "endpoint_name": name,
                    "endpoint_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}", "status": status,
                    "endpoint_config_name": f"{name}-config-3", "creation_time": created,
                    "last_modified_time": now - timedelta(days=int(_u("mod", i) * 20), hours=3),
                    "failure_reason": "ClientError: image pull failed" if status == "Failed" else None,
                    "team": team, "project": project, "env": env, "tags": json.dumps(tags), "observed_at": now})
        types = list(HOST_TYPES)
        itype = types[_h("type", i) % len(types)]
        for v, (vname, weight) in enumerate((("blue", 0.9), ("green", 0.1))):
            count = max(1, 1 + _h("count", i, v) % (4 if env == "prod" else 2))
            variants.append({"account_id": ACCOUNT, "region": REGION, "endpoint_name": name, "variant_name": vname,
                             "instance_type": itype, "current_instance_count": count,
                             "desired_instance_count": count, "current_weight": weight, "desired_weight": weight,
                             "model_name": f"{name}-model-{3 - v}", "endpoint_config_name": f"{name}-config-3",
                             "observed_at": now})
    return pd.DataFrame(eps), pd.DataFrame(variants)


def _resources(con: duckdb.DuckDBPyConnection, scale: Scale, now: datetime) -> dict[str, int]:
    t = _tables()
    n: dict[str, int] = {}
    eps, variants = _endpoints(scale, now)
    n["aws_sagemaker_endpoint"] = _insert_df(con, t["aws_sagemaker_endpoint"], eps)
    n["aws_sagemaker_endpoint_variant"] = _insert_df(con, t["aws_sagemaker_endpoint_variant"], variants)

    configs, history, targets, policies, activities, models = [], [], [], [], [], []
    for e in eps.itertuples():
        vs = variants[variants.endpoint_name == e.endpoint_name]
        for c in (1, 2, 3):
            body = [{"variant_name": v.variant_name, "model_name": f"{e.endpoint_name}-model-{c if c < 3 else 3}"
                     if v.variant_name == "blue" else f"{e.endpoint_name}-model-{max(1, c - 1)}",
                     "instance_type": v.instance_type, "initial_instance_count": v.current_instance_count,
                     "initial_variant_weight": v.current_weight} for v in vs.itertuples()]
            configs.append({"account_id": ACCOUNT, "region": REGION,
                            "endpoint_config_name": f"{e.endpoint_name}-config-{c}",
                            "endpoint_config_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/"
                                                   f"{e.endpoint_name}-config-{c}",
                            "creation_time": now - timedelta(days=(4 - c) * 25 + int(_u("cfg", e.Index) * 5)),
                            "variants": json.dumps(body)})
        for v in vs.itertuples():
            for week in range(0, scale.history_days, 7):
                at = now - timedelta(days=scale.history_days - week)
                count = max(1, v.current_instance_count + (_h("hist", e.Index, v.Index, week) % 3) - 1)
                history.append({"account_id": ACCOUNT, "region": REGION, "endpoint_name": e.endpoint_name,
                                "variant_name": v.variant_name, "observed_at": at, "instance_type": v.instance_type,
                                "current_instance_count": count, "desired_instance_count": count,
                                "current_weight": v.current_weight, "endpoint_config_name": v.endpoint_config_name,
                                "model_name": v.model_name})
            models.append({"account_id": ACCOUNT, "region": REGION, "model_name": v.model_name,
                           "model_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{v.model_name}",
                           "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{e.project}:latest",
                           "model_package_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/"
                                                f"{e.project}/{3 if v.variant_name == 'blue' else 2}",
                           "creation_time": e.creation_time, "team": e.team, "project": e.project,
                           "tags": json.dumps({"team": e.team, "project": e.project})})
            if e.env == "prod":
                rid = f"endpoint/{e.endpoint_name}/variant/{v.variant_name}"
                targets.append({"account_id": ACCOUNT, "region": REGION, "resource_id": rid,
                                "scalable_dimension": "sagemaker:variant:DesiredInstanceCount",
                                "endpoint_name": e.endpoint_name, "variant_name": v.variant_name, "min_capacity": 1,
                                "max_capacity": 8, "creation_time": e.creation_time, "observed_at": now})
                policies.append({"account_id": ACCOUNT, "region": REGION, "policy_name": f"{e.endpoint_name}-tt",
                                 "resource_id": rid, "policy_type": "TargetTrackingScaling", "target_value": 70.0,
                                 "metric": "SageMakerVariantInvocationsPerInstance", "scale_in_cooldown_s": 300,
                                 "scale_out_cooldown_s": 60, "creation_time": e.creation_time})
                for a in range(6):
                    at = now - timedelta(hours=4 + a * 37 + _h("act", e.Index, a) % 11)
                    activities.append({"account_id": ACCOUNT, "region": REGION,
                                       "activity_id": f"{e.Index:03d}-{v.Index:03d}-{a}", "resource_id": rid,
                                       "endpoint_name": e.endpoint_name, "variant_name": v.variant_name,
                                       "start_time": at, "end_time": at + timedelta(minutes=6),
                                       "status_code": "Successful",
                                       "description": f"Setting desired instance count to {2 + a % 3}.",
                                       "cause": "monitor alarm TargetTracking-AlarmHigh in state ALARM"})
    for name, rows in (("aws_sagemaker_endpoint_config", configs),
                       ("aws_sagemaker_endpoint_variant_history", history),
                       ("aws_application_autoscaling_scalable_target", targets),
                       ("aws_application_autoscaling_policy", policies),
                       ("aws_application_autoscaling_activity", activities), ("aws_sagemaker_model", models)):
        n[name] = _insert_df(con, t[name], pd.DataFrame(rows))

    # registry: one group per project, 10 versions each
    groups, packages = [], []
    for team in TEAMS:
        for project in PROJECTS[team]:
            groups.append({"account_id": ACCOUNT, "region": REGION, "group_name": project,
                           "group_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{project}",
                           "description": f"{team}: {project} models", "status": "Completed",
                           "creation_time": now - timedelta(days=700)})
            for v in range(1, 11):
                status = "Approved" if v <= 3 else "PendingManualApproval" if v == 10 else \
                    ("Rejected" if v % 4 == 0 else "Approved")
                packages.append({"account_id": ACCOUNT, "region": REGION, "group_name": project, "version": v,
                                 "model_package_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/"
                                                      f"{project}/{v}",
                                 "approval_status": status, "package_status": "Completed",
                                 "creation_time": now - timedelta(days=(11 - v) * 30), "description": f"v{v}",
                                 "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{project}:{v}",
                                 "model_data_url": f"s3://models-{ACCOUNT}/{project}/{v}/model.tar.gz",
                                 "customer_metadata": json.dumps({"auc": round(0.8 + v / 100, 3), "team": team})})
    n["aws_sagemaker_model_package_group"] = _insert_df(con, t["aws_sagemaker_model_package_group"],
                                                        pd.DataFrame(groups))
    n["aws_sagemaker_model_package"] = _insert_df(con, t["aws_sagemaker_model_package"], pd.DataFrame(packages))

    # alarms: p99 latency and 5xx per endpoint; a few firing now, a month of state changes
    alarms, changes = [], []
    for e in eps.itertuples():
        for kind, metric, stat, threshold in (("p99", "ModelLatency", "p99", 250_000.0),
                                              ("5xx", "Invocation5XXErrors", "Sum", 10.0)):
            name = f"{e.endpoint_name}-{kind}"
            firing = kind == "p99" and e.Index % 17 == 3
            last = now - timedelta(minutes=20 if firing else 300 + _h("al", e.Index) % 3000)
            alarms.append({"account_id": ACCOUNT, "region": REGION, "alarm_name": name,
                           "alarm_arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
                           "state_value": "ALARM" if firing else "OK",
                           "state_reason": "Threshold Crossed: 3 datapoints were greater than the threshold",
                           "state_updated_at": last, "metric_name": metric, "namespace": "AWS/SageMaker",
                           "dimensions": json.dumps({"EndpointName": e.endpoint_name, "VariantName": "blue"}),
                           "endpoint_name": e.endpoint_name, "variant_name": "blue",
                           "statistic": "Sum" if stat == "Sum" else None,
                           "extended_statistic": stat if stat != "Sum" else None, "threshold": threshold,
                           "comparison_operator": "GreaterThanThreshold", "period_s": 60, "evaluation_periods": 3,
                           "datapoints_to_alarm": 3, "treat_missing_data": "notBreaching", "actions_enabled": True,
                           "actions": json.dumps([]), "observed_at": now})
            for k in range(8):
                at = now - timedelta(hours=8 + k * 80 + _h("ch", e.Index, kind, k) % 40)
                changes += [{"account_id": ACCOUNT, "region": REGION, "alarm_name": name, "ts": at,
                             "old_state": "OK", "new_state": "ALARM", "reason": "Threshold Crossed",
                             "source": "history"},
                            {"account_id": ACCOUNT, "region": REGION, "alarm_name": name,
                             "ts": at + timedelta(minutes=10 + k * 3), "old_state": "ALARM", "new_state": "OK",
                             "reason": "Threshold no longer crossed", "source": "history"}]
            if firing:
                changes.append({"account_id": ACCOUNT, "region": REGION, "alarm_name": name, "ts": last,
                                "old_state": "OK", "new_state": "ALARM", "reason": "Threshold Crossed",
                                "source": "history"})
    n["aws_cloudwatch_alarm"] = _insert_df(con, t["aws_cloudwatch_alarm"], pd.DataFrame(alarms))
    n["aws_cloudwatch_alarm_state_change"] = _insert_df(con, t["aws_cloudwatch_alarm_state_change"],
                                                        pd.DataFrame(changes))
    return n


# --------------------------------------------------------------------------- metrics


def _series(con: duckdb.DuckDBPyConnection, eps: pd.DataFrame, variants: pd.DataFrame, now: datetime,
            scale: Scale) -> pd.DataFrame:
    """The series rows, and the generation parameters of each (series, stat) pair as a temp table."""
    rows, params = [], []
    idle = {e.endpoint_name for e in eps.itertuples() if e.Index % 12 == 11}  # no traffic: the idle list
    for v in variants.itertuples():
        e = eps[eps.endpoint_name == v.endpoint_name].iloc[0]
        rpm = 0.0 if v.endpoint_name in idle else 20 * math.exp(5 * _u("rpm", v.endpoint_name)) * v.current_weight
        gpu = v.instance_type.startswith(("ml.g", "ml.p", "ml.inf"))
        for ns, metric, stat in VARIANT_SERIES:
            dims = {"EndpointName": v.endpoint_name, "VariantName": v.variant_name}
            sid = cwm.series_id(ns, metric, dims)
            rows.append({"account_id": ACCOUNT, "region": REGION, "series_id": sid, "namespace": ns,
                         "metric_name": metric, "dimensions": json.dumps(dims, sort_keys=True),
                         "endpoint_name": v.endpoint_name, "variant_name": v.variant_name,
                         "unit": cwm.UNITS.get(metric), "stats": ",".join(cwm.stats_for(ns, metric)),
                         "first_seen_at": now - timedelta(days=scale.history_days), "last_seen_at": now,
                         "poll_class": "hot" if (ns, metric, stat) in cwm.HOT and rpm > 0 else "cold",
                         "last_polled_at": now})
            u = _u("lvl", sid)
            base = {"Invocations": rpm, "Invocation4XXErrors": rpm * 0.004,
                    "Invocation5XXErrors": rpm * (0.03 if e.name % 23 == 4 else 0.001),
                    "ModelLatency": 20_000 + 180_000 * u, "OverheadLatency": 1_500 + 3_000 * u,
                    "CPUUtilization": 8 + 60 * u if rpm > 0 else 2 + 3 * u, "MemoryUtilization": 30 + 40 * u,
                    "DiskUtilization": 10 + 30 * u, "GPUUtilization": (10 + 70 * u) if gpu else 0.0,
                    "GPUMemoryUtilization": (20 + 60 * u) if gpu else 0.0}[metric]
            kind = {"Sum": 0, "p99": 1, "Average": 2}[stat]
            params.append({"series_id": sid, "stat": stat, "k": len(params), "base": base, "kind": kind,
                           "amp": 0.5 if kind == 0 else 0.25,
                           "cp": math.cos(2 * math.pi * _u("phase", v.endpoint_name)),
                           "sp": math.sin(2 * math.pi * _u("phase", v.endpoint_name)),
                           "noise": 0.3 if kind == 1 else 0.15})
    df = pd.DataFrame(rows)
    _insert_df(con, _tables()[cwm.SERIES.name], df)
    con.register("_pairs", pd.DataFrame(params))
    con.execute("CREATE OR REPLACE TEMP TABLE gen_pair AS SELECT * FROM _pairs")
    con.unregister("_pairs")
    return df


# One chunk of points into a temp table: the diurnal wave is sin(a + phase) = sin a cos phase + cos a sin phase,
# with sin a / cos a computed once per timestamp and the phase terms once per pair, and the noise an integer
# hash of (timestamp index, pair): a few multiply-adds per point instead of a sin() and a hash() each.
CHUNK_SQL = """
CREATE OR REPLACE TEMP TABLE gen_chunk AS
SELECT p.series_id, p.stat, g.ts,
       CASE p.kind
         WHEN 0 THEN round(greatest(0, p.base * ? / 60.0 * (1 + p.amp * (g.s * p.cp + g.c * p.sp))
                     * (1 + p.noise * (((g.n * 2654435761 + p.k * 40503) % 2000) / 1000.0 - 1))))
         WHEN 1 THEN p.base * (1 + p.amp * (g.s * p.cp + g.c * p.sp))
                     * (1 + p.noise * (((g.n * 2654435761 + p.k * 40503) % 2000) / 1000.0 - 1) ^ 2)
         ELSE least(100, greatest(0, p.base * (1 + p.amp * (g.s * p.cp + g.c * p.sp))
                     * (1 + p.noise * (((g.n * 2654435761 + p.k * 40503) % 2000) / 1000.0 - 1))))
       END AS value
FROM (SELECT ts, sin(2 * pi() * epoch(ts) / 86400.0) AS s, cos(2 * pi() * epoch(ts) / 86400.0) AS c,
             (epoch(ts) / 60)::BIGINT AS n
      FROM generate_series(?::TIMESTAMPTZ, ?::TIMESTAMPTZ - to_seconds(?::INTEGER), to_seconds(?::INTEGER)) t(ts)) g
CROSS JOIN gen_pair p
"""

POINTS_SQL = f"""
INSERT INTO {ident(cwm.POINT.name)} (account_id, region, series_id, stat, period_s, ts, value)
SELECT ?, ?, series_id, stat, ?::INTEGER, ts, value FROM gen_chunk ORDER BY ts
"""  # noqa: S608 - the table name comes from the registry

HOURLY_SQL = f"""
INSERT INTO {ident(cwm.HOURLY.name)} (account_id, region, series_id, stat, hour, value, points, period_s)
SELECT ?, ?, series_id, stat, time_bucket(INTERVAL 1 HOUR, ts) AS hour,
       CASE WHEN stat = 'Sum' THEN sum(value) WHEN stat = 'Average' THEN avg(value) ELSE max(value) END,
       count(*), ?::INTEGER
FROM gen_chunk GROUP BY series_id, stat, hour ORDER BY hour
"""  # noqa: S608 - the table name comes from the registry

# The daily rollup from the hourly one, with the collector's rule (cloudwatch_metrics.DAILY_FROM_HOURLY), in one pass.
DAILY_SQL = f"""
INSERT INTO {ident(cwm.DAILY.name)} ({', '.join(cwm.DAILY.column_names)})
SELECT account_id, region, series_id, stat, {cwm.DAILY_FROM_HOURLY}
FROM {ident(cwm.HOURLY.name)} GROUP BY 1, 2, 3, 4, 5 ORDER BY day
"""  # noqa: S608 - the table names come from the registry


def _points(con: duckdb.DuckDBPyConnection, scale: Scale, now: datetime, log=print) -> int:
    """Points in time order, a chunk at a time, each chunk's hourly rollup right after it (as collected)."""
    end = now.replace(second=0, microsecond=0)
    start = (end - timedelta(days=scale.history_days)).replace(minute=0)
    split = (end - timedelta(days=scale.minute_days)).replace(minute=0)
    chunks = []
    t = start
    while t < split:  # 5-minute points, 10 days a chunk
        chunks.append((t, min(split, t + timedelta(days=10)), 300))
        t = chunks[-1][1]
    while t < end:  # 1-minute points, 1 day a chunk
        chunks.append((t, min(end, t + timedelta(days=1)), 60))
        t = chunks[-1][1]
    total, t0 = 0, time.monotonic()
    for i, (lo, hi, period) in enumerate(chunks):
        con.execute(CHUNK_SQL, [period, lo, hi, period, period])
        con.execute("BEGIN TRANSACTION")
        total += con.execute(POINTS_SQL, [ACCOUNT, REGION, period]).fetchone()[0]
        con.execute(HOURLY_SQL, [ACCOUNT, REGION, period])
        con.execute("COMMIT")
        if i % 10 == 9 or i == len(chunks) - 1:
            log(f"  points: {total:,} ({i + 1}/{len(chunks)} chunks, {time.monotonic() - t0:.0f} s)")
    con.execute(DAILY_SQL)
    cwm.summarize(lambda sql, params: con.execute(sql, params).fetchall(), ACCOUNT, REGION, now)
    log(f"  daily rollup and endpoint summary: {time.monotonic() - t0:.0f} s")
    return total


# --------------------------------------------------------------------------- training, pipelines, logs, cost


def _training(con: duckdb.DuckDBPyConnection, scale: Scale, now: datetime) -> None:
    teams = pd.DataFrame([{"tk": i, "team": team, "project": PROJECTS[team][j]}
                          for i, (team, j) in enumerate((t, j) for t in TEAMS for j in (0, 1))])
    types = pd.DataFrame({"yk": range(len(TRAIN_TYPES)), "instance_type": list(TRAIN_TYPES)})
    con.register("_teams", teams)
    con.register("_ttypes", types)
    job = ident("aws_sagemaker_training_job")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE gen_job AS
        SELECT i, t.team, t.project, y.instance_type,
               t.project || '-train-' || lpad(i::VARCHAR, 5, '0') AS name,
               ?::TIMESTAMPTZ - to_seconds((? - i) * ?::DOUBLE * 86400 / ? + hash(i, 'c') % 3600) AS created,
               600 + hash(i, 'd') % 43200 AS seconds,
               CASE WHEN i >= ? - 12 THEN 'InProgress' WHEN hash(i, 's') % 100 < 8 THEN 'Failed'
                    WHEN hash(i, 's') % 100 < 11 THEN 'Stopped' ELSE 'Completed' END AS status,
               hash(i, 'spot') % 100 < 40 AS spot, 1 + (hash(i, 'n') % 4 = 0)::INTEGER * 3 AS instance_count
        FROM range(?) r(i)
        JOIN _teams t ON t.tk = i % 16 JOIN _ttypes y ON y.yk = hash(i, 'type') % {len(TRAIN_TYPES)}
    """, [now, scale.training_jobs, scale.cost_days, scale.training_jobs, scale.training_jobs, scale.training_jobs])  # noqa: S608
    con.execute(f"""
        INSERT INTO {job} BY NAME
        SELECT ? AS account_id, ? AS region, name AS training_job_name,
               'arn:aws:sagemaker:' || ? || ':' || ? || ':training-job/' || name AS training_job_arn, status,
               CASE status WHEN 'InProgress' THEN 'Training' ELSE status END AS secondary_status,
               created AS creation_time, created + INTERVAL 4 MINUTE AS training_start_time,
               CASE WHEN status = 'InProgress' THEN NULL
                    ELSE created + INTERVAL 4 MINUTE + to_seconds(seconds) END AS training_end_time,
               CASE WHEN status = 'InProgress' THEN ?::TIMESTAMPTZ
                    ELSE created + INTERVAL 5 MINUTE + to_seconds(seconds) END AS last_modified_time,
               instance_type, instance_count, 50 AS volume_gb, spot, 86400 AS max_runtime_s,
               CASE WHEN spot THEN 172800 END AS max_wait_s,
               CASE WHEN status = 'InProgress' THEN NULL ELSE seconds END AS training_seconds,
               CASE WHEN status = 'InProgress' THEN NULL
                    WHEN spot THEN (seconds * ?)::BIGINT ELSE seconds END AS billable_seconds,
               CASE status WHEN 'Failed' THEN 'AlgorithmError: CUDA out of memory' END AS failure_reason,
               json_object('epochs', (5 + i % 20)::VARCHAR, 'learning_rate', (0.0001 * (1 + i % 9))::VARCHAR,
                           'batch_size', (32 * (1 + i % 4))::VARCHAR) AS hyperparameters,
               json_object('validation:auc', 0.7 + (hash(i, 'auc') % 250) / 1000.0,
                           'train:loss', (hash(i, 'loss') % 500) / 1000.0) AS final_metrics,
               ? || '.dkr.ecr.' || ? || '.amazonaws.com/' || project || '-train:latest' AS image,
               json_array(json_object('name', 'train', 's3', 's3://data-' || ? || '/' || project || '/train/'))
                   AS input_channels,
               team, project, json_object('team', team, 'project', project) AS tags, ?::TIMESTAMPTZ AS observed_at
        FROM gen_job
    """, [ACCOUNT, REGION, REGION, ACCOUNT, now, 1 - SPOT_DISCOUNT, ACCOUNT, REGION, ACCOUNT, now])  # noqa: S608
    con.execute(f"""
        INSERT INTO {ident("aws_sagemaker_training_job_status_transition")} BY NAME
        SELECT ? AS account_id, ? AS region, name AS training_job_name, s.status,
               created + to_seconds(s.off) AS start_time,
               CASE WHEN s.next_off IS NULL THEN NULL ELSE created + to_seconds(s.next_off) END AS end_time,
               s.status || ' ' || name AS message
        FROM gen_job, LATERAL (SELECT * FROM (VALUES ('Starting', 0, 120), ('Downloading', 120, 240),
                                                      ('Training', 240, NULL)) v(status, off, next_off)) s
    """, [ACCOUNT, REGION])  # noqa: S608
    con.unregister("_teams")
    con.unregister("_ttypes")


def _pipelines(con: duckdb.DuckDBPyConnection, scale: Scale, now: datetime) -> None:
    t = _tables()
    pipes = [{"account_id": ACCOUNT, "region": REGION, "pipeline_name": f"{p}-{kind}",
              "pipeline_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{p}-{kind}",
              "display_name": f"{p} {kind}", "description": f"{team}: {kind} for {p}",
              "creation_time": now - timedelta(days=scale.cost_days), "last_modified_time": now - timedelta(days=9),
              "last_execution_time": now - timedelta(hours=2), "team": team, "project": p,
              "tags": json.dumps({"team": team, "project": p})}
             for team in TEAMS for p in PROJECTS[team] for kind in ("train", "batch")]
    _insert_df(con, t["aws_sagemaker_pipeline"], pd.DataFrame(pipes))
    con.register("_pipes", pd.DataFrame({"pk": range(len(pipes)),
                                         "pipeline_name": [p["pipeline_name"] for p in pipes]}))
    days = min(scale.cost_days, 365)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE gen_exec AS
        SELECT p.pipeline_name, d,
               'arn:aws:sagemaker:' || ? || ':' || ? || ':pipeline/' || p.pipeline_name || '/execution/'
                   || lpad(d::VARCHAR, 4, '0') AS arn,
               ?::TIMESTAMPTZ - to_days(?::INTEGER - d) + to_seconds(hash(p.pk, d) % 3600) AS start,
               1200 + hash(p.pk, d, 'dur') % 5400 AS seconds,
               CASE WHEN d = ? - 1 AND p.pk % 5 = 0 THEN 'Executing' WHEN hash(p.pk, d, 's') % 100 < 7 THEN 'Failed'
                    ELSE 'Succeeded' END AS status
        FROM _pipes p, range(?) r(d)
    """, [REGION, ACCOUNT, now, days, days, days])
    con.execute(f"""
        INSERT INTO {ident("aws_sagemaker_pipeline_execution")} BY NAME
        SELECT ? AS account_id, ? AS region, pipeline_name, arn AS execution_arn,
               'run-' || lpad(d::VARCHAR, 4, '0') AS display_name, status, start AS start_time,
               CASE WHEN status = 'Executing' THEN NULL ELSE start + to_seconds(seconds) END AS end_time,
               CASE WHEN status = 'Failed' THEN 'Step Train failed: AlgorithmError' END AS failure_reason,
               '{{}}' AS parameters, CASE WHEN status = 'Failed' THEN 'Train' END AS failed_step,
               ?::TIMESTAMPTZ AS observed_at
        FROM gen_exec
    """, [ACCOUNT, REGION, now])  # noqa: S608
    con.execute(f"""
        INSERT INTO {ident("aws_sagemaker_pipeline_execution_step")} BY NAME
        SELECT ? AS account_id, ? AS region, arn AS execution_arn, pipeline_name, s.step_name, s.step_type,
               CASE WHEN x.status = 'Failed' AND s.step_name = 'Train' THEN 'Failed'
                    WHEN x.status = 'Failed' AND s.n > 2 THEN 'NotStarted'
                    WHEN x.status = 'Executing' AND s.n = 3 THEN 'Executing'
                    WHEN x.status = 'Executing' AND s.n > 3 THEN 'NotStarted' ELSE 'Succeeded' END AS status,
               start + to_seconds(seconds * (s.n - 1) / 4) AS start_time,
               start + to_seconds(seconds * s.n / 4) AS end_time,
               CASE WHEN x.status = 'Failed' AND s.step_name = 'Train' THEN 'AlgorithmError: loss is NaN' END
                   AS failure_reason, 1 AS attempt_count
        FROM gen_exec x, (VALUES (1, 'Preprocess', 'Processing'), (2, 'Train', 'Training'),
                                 (3, 'Evaluate', 'Processing'),
                                 (4, 'Register', 'RegisterModel')) s(n, step_name, step_type)
    """, [ACCOUNT, REGION])  # noqa: S608
    con.unregister("_pipes")
    machines = [{"account_id": ACCOUNT, "region": REGION, "state_machine_name": f"etl-{k}",
                 "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:etl-{k}", "type": "STANDARD",
                 "creation_date": now - timedelta(days=400)} for k in ("features", "labels", "export", "backfill")]
    _insert_df(con, t["aws_sfn_state_machine"], pd.DataFrame(machines))
    con.execute(f"""
        INSERT INTO {ident("aws_sfn_execution")} BY NAME
        SELECT ? AS account_id, ? AS region,
               replace(m, ':stateMachine:', ':execution:') || ':run-' || d AS execution_arn, m AS state_machine_arn,
               'run-' || d AS execution_name,
               CASE WHEN hash(m, d) % 100 < 5 THEN 'FAILED' ELSE 'SUCCEEDED' END AS status,
               ?::TIMESTAMPTZ - to_days(?::INTEGER - d) AS start_date,
               ?::TIMESTAMPTZ - to_days(?::INTEGER - d) + INTERVAL 17 MINUTE AS stop_date,
               CASE WHEN hash(m, d) % 100 < 5 THEN 'Transform' END AS failing_state,
               CASE WHEN hash(m, d) % 100 < 5 THEN 'States.TaskFailed' END AS error,
               CASE WHEN hash(m, d) % 100 < 5 THEN 'Glue job failed' END AS cause
        FROM unnest(?::VARCHAR[]) u(m), range(?) r(d)
    """, [ACCOUNT, REGION, now, days, now, days, [m["state_machine_arn"] for m in machines], days])  # noqa: S608


def _logs(con: duckdb.DuckDBPyConnection, scale: Scale, variants: pd.DataFrame, now: datetime) -> None:
    t = _tables()
    groups = [{"account_id": ACCOUNT, "region": REGION, "log_group": f"/aws/sagemaker/Endpoints/{e}",
               "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{e}",
               "creation_time": now - timedelta(days=300), "retention_days": 30, "stored_bytes": 10**8,
               "endpoint_name": e, "observed_at": now} for e in sorted(set(variants.endpoint_name))]
    groups.append({"account_id": ACCOUNT, "region": REGION, "log_group": "/aws/sagemaker/TrainingJobs",
                   "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs",
                   "creation_time": now - timedelta(days=700), "retention_days": 90, "stored_bytes": 10**9,
                   "observed_at": now})
    _insert_df(con, t["aws_logs_log_group"], pd.DataFrame(groups))
    days = 7
    jobs = con.execute("SELECT name FROM gen_job ORDER BY created DESC LIMIT ?", [max(4, scale.variants)]).fetchall()
    streams = [{"sk": i, "log_group": f"/aws/sagemaker/Endpoints/{v.endpoint_name}",
                "log_stream": f"{v.variant_name}/i-{_h('i', v.endpoint_name, v.variant_name):08x}",
                "endpoint_name": v.endpoint_name, "variant_name": v.variant_name, "training_job_name": None}
               for i, v in enumerate(variants.itertuples())]
    streams += [{"sk": len(streams) + i, "log_group": "/aws/sagemaker/TrainingJobs", "log_stream": f"{j}/algo-1",
                 "endpoint_name": None, "variant_name": None, "training_job_name": j} for i, (j,) in enumerate(jobs)]
    sdf = pd.DataFrame(streams)
    con.register("_streams", sdf)
    con.execute(f"""
        INSERT INTO {ident("aws_logs_log_stream")} BY NAME
        SELECT ? AS account_id, ? AS region, log_group, log_stream, ?::TIMESTAMPTZ - to_days(?) AS creation_time,
               ?::TIMESTAMPTZ - to_days(?) AS first_event_at, ?::TIMESTAMPTZ AS last_event_at,
               ?::TIMESTAMPTZ AS last_ingestion_at, 10000000 AS stored_bytes, endpoint_name, variant_name,
               training_job_name, ? AS events_read, ?::TIMESTAMPTZ AS observed_at
        FROM _streams
    """, [ACCOUNT, REGION, now, days, now, days, now, now, scale.log_lines // len(sdf), now])  # noqa: S608
    n = scale.log_lines
    params = [ACCOUNT, REGION, now, n, days, n, now, n, days, n, n, len(sdf)]
    con.execute(f"""
        INSERT INTO {ident("aws_logs_event")} BY NAME
        SELECT ? AS account_id, ? AS region, s.log_group, s.log_stream, lpad(i::VARCHAR, 12, '0') AS event_id,
               ?::TIMESTAMPTZ - to_microseconds(((? - i) * (?::DOUBLE * 86400e6 / ?))::BIGINT) AS ts,
               ?::TIMESTAMPTZ - to_microseconds(((? - i) * (?::DOUBLE * 86400e6 / ?))::BIGINT)
                   + INTERVAL 2 SECOND AS ingestion_time,
               CASE WHEN hash(i) % 100 < 2 THEN 'ERROR' WHEN hash(i) % 100 < 10 THEN 'WARN' ELSE 'INFO' END AS level,
               CASE WHEN hash(i) % 100 < 2 THEN 'ERROR model server: ' ||
                        CASE hash(i, 'e') % 3 WHEN 0 THEN 'CUDA error: out of memory'
                        WHEN 1 THEN 'worker timeout after 60s' ELSE 'ValueError: input shape mismatch' END
                    WHEN hash(i) % 100 < 10 THEN 'WARN slow request ' || (hash(i, 'ms') % 2000) || ' ms'
                    ELSE 'INFO POST /invocations 200 ' || (hash(i, 'ms') % 300) || ' ms request_id='
                         || lpad(to_hex(hash(i, 'r') % 4294967296), 8, '0') END AS message,
               s.endpoint_name, s.variant_name, s.training_job_name
        FROM range(?) r(i) JOIN _streams s ON s.sk = hash(i, 'stream') % ?
    """, params)  # noqa: S608 - the table name comes from the registry
    con.unregister("_streams")


COST_SERVICES = {  # service -> usage types (with a base daily cost in USD and usage unit)
    "Amazon Simple Storage Service": [("USE1-TimedStorage-ByteHrs", 140.0, "GB-Mo"), ("USE1-Requests-Tier1", 22.0,
                                                                                        "Requests")],
    "Amazon CloudWatch": [("USE1-CW:MetricMonitorUsage", 18.0, "Metrics"), ("USE1-CW:GMD-Metrics", 3.0, "Metrics"),
                          ("USE1-DataProcessing-Bytes", 12.0, "GB")],
    "AWS Cost Explorer": [("USE1-APIRequest", 0.8, "Requests")],
    "Amazon Elastic Compute Cloud - Compute": [("USE1-BoxUsage:m5.large", 55.0, "Hrs")],
    "Amazon Elastic Container Registry (ECR)": [("USE1-TimedStorage-ByteHrs", 4.0, "GB-Mo")],
    "AWS Step Functions": [("USE1-StateTransition", 2.5, "Transitions")],
    "AWS Glue": [("USE1-ETL-DPU-Hour", 35.0, "DPU-Hour")],
}


def _cost(con: duckdb.DuckDBPyConnection, scale: Scale, variants: pd.DataFrame, now: datetime) -> None:
    """Daily cost in the four groupings the cost pages read; the SageMaker lines follow the fleet."""
    dims = []
    for svc, lines in COST_SERVICES.items():
        dims += [{"service": svc, "usage_type": u, "base": base, "unit": unit, "rate": 1.0} for u, base, unit in lines]
    fleet = variants.groupby("instance_type").current_instance_count.sum()
    for itype, count in fleet.items():
        dims.append({"service": "Amazon SageMaker", "usage_type": f"USE1-Host:{itype}", "base": float(count) * 24,
                     "unit": "Hrs", "rate": HOST_TYPES[itype]})
    for itype, price in TRAIN_TYPES.items():
        hours = scale.training_jobs / max(1, scale.cost_days) * 3.5 / len(TRAIN_TYPES) * 0.6
        dims.append({"service": "Amazon SageMaker", "usage_type": f"USE1-Train:{itype}", "base": hours, "unit": "Hrs",
                     "rate": price})
        dims.append({"service": "Amazon SageMaker", "usage_type": f"USE1-Train-Spot:{itype}", "base": hours * 0.7,
                     "unit": "Hrs", "rate": price * (1 - SPOT_DISCOUNT)})
    dims.append({"service": "Amazon SageMaker", "usage_type": "USE1-Notebk:ml.t3.medium", "base": 40.0, "unit": "Hrs",
                 "rate": 0.05})
    ddf = pd.DataFrame(dims).reset_index(names="uk")
    con.register("_cdims", ddf)
    shares = [{"team": team, "project": p, "share": 1.0 + (_h("share", team, p) % 100) / 50}
              for team in TEAMS for p in PROJECTS[team]]
    sdf = pd.DataFrame(shares)
    sdf["share"] = sdf.share / sdf.share.sum() * 0.92  # 8 % of the bill carries no team tag
    con.register("_shares", sdf)
    cost = ident("aws_cost_daily")
    today = now.date()
    con.execute(f"""
        INSERT INTO {cost} BY NAME
        SELECT ? AS account_id, 'global' AS region, d.date::DATE AS date, 'SERVICE/USAGE_TYPE' AS group_by_kind,
               c.service AS key1, c.usage_type AS key2,
               c.base * c.rate * (0.75 + 0.25 * (1 - datediff('day', d.date::DATE, ?::DATE) / ?::DOUBLE))
                   * (1 + 0.08 * sin(dayofweek(d.date) * 0.9)) * (0.9 + (hash(c.uk, d.date) % 200) / 1000.0)
                   AS unblended_cost_usd,
               c.base * (0.75 + 0.25 * (1 - datediff('day', d.date::DATE, ?::DATE) / ?::DOUBLE))
                   * (0.9 + (hash(c.uk, d.date) % 200) / 1000.0) AS usage_quantity,
               c.unit AS usage_unit, d.date::DATE >= ?::DATE - 2 AS estimated, ?::TIMESTAMPTZ AS observed_at
        FROM generate_series(?::DATE - to_days(?), ?::DATE, INTERVAL 1 DAY) d(date), _cdims c
    """, [ACCOUNT, today, scale.cost_days, today, scale.cost_days, today, now, today, scale.cost_days - 1, today])  # noqa: S608
    con.execute(f"""
        INSERT INTO {cost} BY NAME
        SELECT account_id, region, date, 'LINKED_ACCOUNT/SERVICE' AS group_by_kind, account_id AS key1,
               key1 AS key2, sum(unblended_cost_usd) AS unblended_cost_usd, NULL AS usage_quantity,
               NULL AS usage_unit, bool_or(estimated) AS estimated, max(observed_at) AS observed_at
        FROM {cost} WHERE group_by_kind = 'SERVICE/USAGE_TYPE' GROUP BY ALL
    """)  # noqa: S608
    for kind, col in (("TAG:team/SERVICE", "team"), ("TAG:project/SERVICE", "project")):
        con.execute(f"""
            INSERT INTO {cost} BY NAME
            WITH svc AS (SELECT account_id, region, date, key1 AS service, sum(unblended_cost_usd) AS cost,
                                bool_or(estimated) AS estimated, max(observed_at) AS observed_at
                         FROM {cost} WHERE group_by_kind = 'SERVICE/USAGE_TYPE' GROUP BY ALL),
                 sh AS (SELECT {col} AS key, sum(share) AS share FROM _shares GROUP BY ALL
                        UNION ALL SELECT '' AS key, 0.08 AS share)
            SELECT s.account_id, s.region, s.date, ? AS group_by_kind, sh.key AS key1, s.service AS key2,
                   s.cost * sh.share AS unblended_cost_usd, s.estimated, s.observed_at
            FROM svc s, sh
        """, [kind])  # noqa: S608 - col is one of two fixed column names of the registered frame
    # in date order, as a collector refreshing the recent days appends them (zone maps then prune by date)
    con.execute(f"CREATE OR REPLACE TEMP TABLE gen_cost AS SELECT * FROM {cost} ORDER BY date, group_by_kind")  # noqa: S608
    con.execute(f"DELETE FROM {cost}")  # noqa: S608
    con.execute(f"INSERT INTO {cost} SELECT * FROM gen_cost ORDER BY date, group_by_kind")  # noqa: S608
    con.execute("DROP TABLE gen_cost")
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    daily = con.execute(f"SELECT sum(unblended_cost_usd) / 7 FROM {cost} WHERE group_by_kind = 'SERVICE/USAGE_TYPE' "  # noqa: S608
                        "AND date >= ?::DATE - 7", [today]).fetchone()[0] or 0.0
    remaining = (next_month - today).days
    _insert_df(con, _tables()["aws_cost_forecast"], pd.DataFrame([{
        "account_id": ACCOUNT, "region": "global", "as_of": today, "period_start": today, "period_end": next_month,
        "mean_usd": daily * remaining, "lower_usd": daily * remaining * 0.9, "upper_usd": daily * remaining * 1.1,
        "observed_at": now}]))
    anomalies = [{"account_id": ACCOUNT, "region": "global", "anomaly_id": f"anomaly-{k}",
                  "monitor_arn": f"arn:aws:ce::{ACCOUNT}:anomalymonitor/ml",
                  "start_date": today - timedelta(days=3 + k * 9), "end_date": today - timedelta(days=2 + k * 9),
                  "service": "Amazon SageMaker", "linked_account": ACCOUNT,
                  "usage_type": f"USE1-Host:{list(HOST_TYPES)[k % len(HOST_TYPES)]}",
                  "root_causes": json.dumps([{"Service": "Amazon SageMaker", "Region": REGION}]),
                  "max_impact_usd": 80.0 + k * 13, "total_impact_usd": 160.0 + k * 21,
                  "total_actual_spend_usd": 900.0 + k * 40, "total_expected_spend_usd": 740.0 + k * 30,
                  "total_impact_pct": 21.6, "max_score": 0.8, "current_score": 0.1, "observed_at": now}
                 for k in range(12)]
    _insert_df(con, _tables()["aws_cost_anomaly"], pd.DataFrame(anomalies))
    con.unregister("_cdims")
    con.unregister("_shares")


def _collection_history(con: duckdb.DuckDBPyConnection, scale: Scale, now: datetime) -> None:
    """A day of collection cycles every 5 minutes, as the collector records them (for the Collection page)."""
    t = _tables()
    sources = [s.NAME for s in collectors.SOURCES]
    pairs = scale.variants * len(VARIANT_SERIES)
    rows, polls = [], []
    for c in range(288):
        start = now - timedelta(minutes=5 * (288 - c))
        run = f"run-{c:04d}"
        hourly = c % 12 == 0
        for k, source in enumerate(sources):
            calls = {"cloudwatch_metrics": math.ceil(pairs / 500) if hourly else math.ceil(pairs * 0.3 / 500),
                     "cost_explorer": 8 if c % 96 == 0 else 0}.get(source, 2 + k)
            cost = 0.0
            if source == "cloudwatch_metrics":
                cost = (pairs if hourly else pairs * 0.3) * prices.PER_METRIC
            elif source == "cost_explorer":
                cost = calls * 0.01
            rows.append({"account_id": ACCOUNT, "region": REGION if source != "cost_explorer" else "global",
                         "run_id": run, "source": source, "started_at": start + timedelta(seconds=k),
                         "ended_at": start + timedelta(seconds=k + 1 + k % 3), "status":
                         "failed" if (c == 250 and source == "cloudwatch_logs") else "succeeded",
                         "rows": 100 + k * 10, "api_calls": calls,
                         "api_calls_by_operation": json.dumps({f"{source}:List": calls}),
                         "estimated_cost_usd": cost,
                         "error": "ThrottlingException: Rate exceeded" if (c == 250 and source == "cloudwatch_logs")
                         else None, "hint": None})
        polls.append({"account_id": ACCOUNT, "region": REGION, "polled_at": start, "series": scale.variants * 10,
                      "queries_total": pairs, "queries_hot": scale.variants * 3,
                      "queries": pairs if hourly else int(pairs * 0.3), "queries_1min": pairs if hourly else
                      int(pairs * 0.3), "queries_5min": 0, "queries_backfill": 0, "queries_job_windows": 0,
                      "job_windows": 0, "requests": math.ceil(pairs / 500), "pages": math.ceil(pairs / 500),
                      "datapoints": pairs * 10, "deferred": 0, "hot_every_s": 300, "cold_every_s": 3600,
                      "estimated_monthly_usd": 0.0, "budget_usd": 10.0})
    _insert_df(con, SYSTEM_TABLES[0], pd.DataFrame(rows))
    _insert_df(con, t[cwm.POLL.name], pd.DataFrame(polls))


# --------------------------------------------------------------------------- entry points


def generate(location: Path, scale: Scale, now: datetime | None = None, log=print) -> dict:
    """Create and publish a reference store in ``location`` (emptied first); returns its facts."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    if location.exists():
        shutil.rmtree(location)
    t0 = time.monotonic()
    w = Writer(location)
    try:
        w.con.execute("SET preserve_insertion_order = true")
        collectors.migrate(w)
        con = w.con
        con.execute("BEGIN TRANSACTION")
        _resources(con, scale, now)
        eps, variants = _endpoints(scale, now)
        _series(con, eps, variants, now, scale)
        _training(con, scale, now)
        _pipelines(con, scale, now)
        _cost(con, scale, variants, now)
        _collection_history(con, scale, now)
        con.execute("COMMIT")
        log(f"  resources, training, pipelines, cost: {time.monotonic() - t0:.0f} s")
        t1 = time.monotonic()
        _logs(con, scale, variants, now)
        log(f"  logs: {scale.log_lines:,} lines in {time.monotonic() - t1:.0f} s")
        points = _points(con, scale, now, log)
        con.execute("DROP TABLE IF EXISTS gen_pair")
        con.execute("DROP TABLE IF EXISTS gen_chunk")
        con.execute("DROP TABLE IF EXISTS gen_job")
        con.execute("DROP TABLE IF EXISTS gen_exec")
        t2 = time.monotonic()
        snap = w.publish()
        log(f"  published {snap.name}: {snap.stat().st_size / 2**30:.2f} GiB in {time.monotonic() - t2:.0f} s")
    finally:
        w.close()
    (location / "writer.duckdb").unlink(missing_ok=True)  # readers only need the snapshot
    facts = {"version": GENERATOR_VERSION, "scale": scale.factor, "now": now.isoformat(), "points": points,
             "seconds": round(time.monotonic() - t0, 1)}
    (location / "reference.json").write_text(json.dumps(facts, indent=2))
    return facts


def ensure(root: Path, scale: Scale, log=print) -> tuple[Path, dict, bool]:
    """The cached reference store for ``scale`` under ``root`` (generated when missing, stale or older than
    today, since the pages read relative to now); returns (location, facts, generated)."""
    location = root / f"reference-{scale.key()}"
    facts_file = location / "reference.json"
    if facts_file.exists() and (location / "CURRENT").exists():
        facts = json.loads(facts_file.read_text())
        age = datetime.now(UTC) - datetime.fromisoformat(facts["now"])
        if facts.get("version") == GENERATOR_VERSION and age < timedelta(hours=12):
            return location, facts, False
    log(f"generating the reference store (scale {scale.factor:g}, {scale.points:,} points) in {location}")
    return location, generate(location, scale, log=log), True
