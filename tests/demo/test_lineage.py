"""Lineage in the emulated account: a registered version's artifacts are the model its training job wrote
(``{S3OutputPath}{job}/output/model.tar.gz``), as SageMaker lays them out, so "what is serving, and what made it"
can be followed from the store."""

from __future__ import annotations

import pytest

from demo import world as world_mod


@pytest.fixture(scope="module")
def world():
    return world_mod.build_world(7)


def test_each_traced_version_comes_from_a_finished_job_of_its_team_before_it_was_registered(world):
    traced = world_mod.package_training_jobs(world)
    owners = {(e.account, e.package_group): (e.team, e.project) for e in world.endpoints}
    packages = {(p.account, p.group, p.version): p for p in world.packages}
    assert len(traced) >= len(world.packages) // 2, "most versions name the job that trained them"
    for key, job in traced.items():
        account, group, _ = key
        assert (job.account, job.team, job.project) == (account, *owners[(account, group)])
        assert job.status == "Completed" and job.end <= packages[key].created
    names = [j.name for j in traced.values()]
    assert len(names) == len(set(names)), "a job produces one version"
    for (account, group), _ in owners.items():  # newer versions come from newer jobs
        ends = [traced[k].end for k in sorted(traced) if k[:2] == (account, group)]
        assert ends == sorted(ends)


def test_a_serving_versions_artifacts_are_its_training_jobs_model(account, world):
    sm = account.client("sagemaker")
    traced = world_mod.package_training_jobs(world)
    serving = {(e.account, e.package_group, v.model_version): e for e in world.endpoints for v in e.variants
               if e.account == world_mod.MAIN_ACCOUNT}
    key = next(k for k in sorted(traced) if k in serving)
    _, group, version = key
    package = next(p for p in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
                   if p["ModelPackageVersion"] == version)
    described = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    job = sm.describe_training_job(TrainingJobName=traced[key].name)
    assert url == f"{job['OutputDataConfig']['S3OutputPath']}{traced[key].name}/output/model.tar.gz"
    assert url == job["ModelArtifacts"]["S3ModelArtifacts"]
    model = sm.describe_model(ModelName=serving[key].model_name(serving[key].variants[0], version))
    assert model["PrimaryContainer"]["ModelDataUrl"] == url
