"""Scripted check: scale an endpoint through boto3 and watch CPU and latency follow.

``python -m demo.scale_check [--endpoint NAME] [--to N]`` against the running emulated account
(AWS_ENDPOINT_URL): reads the variant's per-minute CPUUtilization and ModelLatency, scales it
with UpdateEndpointWeightsAndCapacities, waits for the next full simulated minutes (at most 2),
and prints before/after. The model (demo/model.py) says utilisation is demand / (instances ×
capacity), so doubling the instances should roughly halve CPU and lower latency. Exits 1 if
neither moved down within 2 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import boto3


def _latest(cw, endpoint: str, variant: str, start: datetime, end: datetime) -> dict[str, list[float]]:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    queries = [
        {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": "/aws/sagemaker/Endpoints", "MetricName": "CPUUtilization",
                                                "Dimensions": dims}, "Period": 60, "Stat": "Average"}},
        {"Id": "lat", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
                                                "Dimensions": dims}, "Period": 60, "Stat": "Average"}},
    ]
    res = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    return {r["Id"]: list(zip(r["Timestamps"], r["Values"], strict=True)) for r in res["MetricDataResults"]}


def run(endpoint: str, to: int | None, timeout_s: float = 150.0, out=sys.stdout) -> dict[str, float]:
    sm, cw = boto3.client("sagemaker"), boto3.client("cloudwatch")
    variant = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    name, count = variant["VariantName"], variant["CurrentInstanceCount"]
    target = to or count * 2
    now = datetime.now(UTC)
    before = _latest(cw, endpoint, name, now - timedelta(minutes=5), now)
    cpu0, lat0 = before["cpu"][-1][1], before["lat"][-1][1]
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": name, "DesiredInstanceCount": target}])
    changed = datetime.now(UTC)
    print(f"{endpoint}/{name}: {count} -> {target} instances at {changed:%H:%M:%S}; "
          f"before: CPU {cpu0:.1f}%, latency {lat0 / 1000:.1f} ms", file=out)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        first_minute = changed.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if datetime.now(UTC) <= first_minute + timedelta(seconds=1):
            time.sleep(2)
            continue
        after = _latest(cw, endpoint, name, first_minute, datetime.now(UTC))
        if after["cpu"] and after["lat"]:
            ts, cpu1 = after["cpu"][0]
            lat1 = after["lat"][0][1]
            waited = (datetime.now(UTC) - changed).total_seconds()
            print(f"after ({ts:%H:%M} UTC, {waited:.0f} s later): CPU {cpu1:.1f}%, latency {lat1 / 1000:.1f} ms",
                  file=out)
            return {"cpu_before": cpu0, "cpu_after": cpu1, "latency_before": lat0, "latency_after": lat1,
                    "waited_s": waited, "count_before": count, "count_after": target}
        time.sleep(2)
    raise TimeoutError("no metric point after the change within the timeout")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.scale_check", description=__doc__)
    parser.add_argument("--endpoint", default="search-ranker-prod")
    parser.add_argument("--to", type=int, help="target instance count (default: double)")
    args = parser.parse_args()
    r = run(args.endpoint, args.to)
    ok = r["cpu_after"] < r["cpu_before"] and r["latency_after"] < r["latency_before"]
    print("OK: CPU and latency fell as the model says" if ok else "FAIL: metrics did not follow the scale-up")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
