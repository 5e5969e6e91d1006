"""sagemaker_endpoints collector: tags are re-read on their cadence (collect.tags_every_s) even when an endpoint's
LastModifiedTime does not move, so re-tagging shows in the store."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.collectors.conftest import all_items, ok, ops


def test_re_tagging_an_endpoint_shows_after_the_tag_cadence(collection, account):
    sm = account.client("sagemaker")
    endpoint = sorted(all_items(sm, "list_endpoints", "Endpoints"), key=lambda e: e["EndpointName"])[0]
    name, arn = endpoint["EndpointName"], endpoint["EndpointArn"]
    old = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    ok(collection.run(["sagemaker_endpoints"]))
    assert collection.query("SELECT team FROM aws_sagemaker_endpoint WHERE endpoint_name = ?",
                            [name]) == [(old.get("team"),)]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "retagged-team"}])
    try:
        assert sm.describe_endpoint(EndpointName=name)["LastModifiedTime"] == endpoint["LastModifiedTime"]
        before = collection.calls()
        ok(collection.run(["sagemaker_endpoints"]))  # within the cadence: nothing re-read, the old team stays
        calls = {k: n - before.get(k, 0) for k, n in collection.calls().items() if n - before.get(k, 0)}
        # only endpoints the live account changed meanwhile (if any) are described, with their tags
        assert ops(calls, "ListTags") == ops(calls, "DescribeEndpoint")
        if ops(calls, "DescribeEndpoint") == 0:
            assert collection.query("SELECT team FROM aws_sagemaker_endpoint WHERE endpoint_name = ?",
                                    [name]) == [(old.get("team"),)]

        collection.settings = replace(collection.settings, collect=replace(collection.settings.collect,
                                                                           tags_every_s=0))
        before = collection.calls()
        ok(collection.run(["sagemaker_endpoints"]))  # the cadence has passed: every endpoint's tags are read
        calls = {k: n - before.get(k, 0) for k, n in collection.calls().items() if n - before.get(k, 0)}
        endpoints = len(all_items(sm, "list_endpoints", "Endpoints"))
        assert ops(calls, "ListTags") == endpoints
        team, tags = collection.query("SELECT team, tags FROM aws_sagemaker_endpoint WHERE endpoint_name = ?",
                                      [name])[0]
        assert team == "retagged-team" and json.loads(tags)["team"] == "retagged-team"
        [(cursor,)] = collection.query("SELECT value FROM sextant_watermark WHERE source = 'sagemaker_endpoints' "
                                       "AND key = 'tags_read_at'")
        assert cursor
    finally:
        if "team" in old:
            sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": old["team"]}])
        else:
            sm.delete_tags(ResourceArn=arn, TagKeys=["team"])


def test_training_job_tags_are_re_read_on_the_cadence_without_describing_the_job(collection, account):
    sm = account.client("sagemaker")
    job = sorted(all_items(sm, "list_training_jobs", "TrainingJobSummaries"),
                 key=lambda j: j["TrainingJobName"])[0]
    arn = job["TrainingJobArn"]
    old = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    ok(collection.run(["sagemaker_training"]))
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": "retagged-project"}])
    try:
        collection.settings = replace(collection.settings, collect=replace(collection.settings.collect,
                                                                           tags_every_s=0))
        ok(collection.run(["sagemaker_training"]))
        [(project, tags)] = collection.query(
            "SELECT project, tags FROM aws_sagemaker_training_job WHERE training_job_name = ?",
            [job["TrainingJobName"]])
        assert project == "retagged-project" and json.loads(tags)["project"] == "retagged-project"
    finally:
        if "project" in old:
            sm.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": old["project"]}])
        else:
            sm.delete_tags(ResourceArn=arn, TagKeys=["project"])
