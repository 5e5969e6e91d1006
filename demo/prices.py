"""The price table the emulated account bills with.

On-demand list prices in USD per instance-hour for Amazon SageMaker in us-east-1
(real-time inference and training), rounded to the cent fraction AWS publishes.
The demo uses one table for hosting and training; real AWS prices training a few
percent differently, which does not change anything the dashboard shows.

Other lines on the bill:
- Spot training: billed on ``BillableTimeInSeconds`` at the on-demand rate; the
  saving appears as billable < training seconds (``SPOT_DISCOUNT`` of the time).
- ML storage: ``ML_STORAGE_GB_MONTH`` per GB-month of instance volume
  (``HOSTING_VOLUME_GB`` per hosting instance, the job's ``VolumeSizeInGB`` in training).
- Data transfer out: ``DATA_TRANSFER_GB`` per GB, ``RESPONSE_KB`` per invocation.
- S3 storage for each team's data: ``S3_GB_MONTH`` per GB-month.
- CloudWatch: ``CLOUDWATCH_ALARM_MONTH`` per alarm-month (``CLOUDWATCH_ALARMS_PER_ENDPOINT``
  alarms on every endpoint) and ``CLOUDWATCH_LOGS_INGEST_GB`` per GB of endpoint logs ingested
  (``LOG_BYTES_PER_INVOCATION`` per invocation).
- ECR: ``ECR_GB_MONTH`` per GB-month, ``ECR_REPO_GB`` of images in each repository.
"""

from __future__ import annotations

ML_INSTANCE_HOURLY: dict[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.c5.4xlarge": 0.816,
    "ml.r5.xlarge": 0.302,
    "ml.g4dn.xlarge": 0.7364,
    "ml.g4dn.2xlarge": 0.94,
    "ml.g4dn.12xlarge": 4.89,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.g5.12xlarge": 7.09,
    "ml.p3.2xlarge": 3.825,
    "ml.p3.8xlarge": 14.688,
    "ml.p3.16xlarge": 28.152,
    "ml.p4d.24xlarge": 37.688,
}

GPU_INSTANCE_PREFIXES = ("ml.g4dn", "ml.g5", "ml.p3", "ml.p4d", "ml.p5")

SPOT_DISCOUNT = 0.70
ML_STORAGE_GB_MONTH = 0.14
HOSTING_VOLUME_GB = 30
DATA_TRANSFER_GB = 0.09
RESPONSE_KB = 4.0
S3_GB_MONTH = 0.023
HOURS_PER_MONTH = 730.0
CLOUDWATCH_ALARM_MONTH = 0.10
CLOUDWATCH_ALARMS_PER_ENDPOINT = 3
CLOUDWATCH_LOGS_INGEST_GB = 0.50
LOG_BYTES_PER_INVOCATION = 300.0
ECR_GB_MONTH = 0.10
ECR_REPO_GB = 3.5


def hourly(instance_type: str) -> float:
    """USD per instance-hour; raises KeyError for a type the table lacks."""
    return ML_INSTANCE_HOURLY[instance_type]


def is_gpu(instance_type: str) -> bool:
    return instance_type.startswith(GPU_INSTANCE_PREFIXES)
