"""AWS list prices of the API calls Sextant makes, in USD: the one table the call counter, the budget
planner and the benchmarks read. Only billed operations are listed; every other call is free."""

from __future__ import annotations

# Cost Explorer: per request (each page of a paginated answer counts).
CE_PER_REQUEST = 0.01
PER_REQUEST: dict[tuple[str, str], float] = {
    ("ce", op): CE_PER_REQUEST
    for op in ("GetCostAndUsage", "GetCostForecast", "GetAnomalies", "GetDimensionValues", "GetTags")
}
# CloudWatch GetMetricData: per metric requested, whatever the datapoints.
PER_METRIC = 0.01 / 1000
# CloudWatch alarms: a standard-resolution metric alarm, per alarm-month (per metric it watches).
CLOUDWATCH_ALARM_MONTH = 0.10
