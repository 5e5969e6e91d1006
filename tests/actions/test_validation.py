"""Validation without AWS: whole-string ASCII patterns, finite numbers only, clear messages for huge numbers and
deep JSON; each refusal is one 'invalid' audit row and no AWS call."""

from __future__ import annotations

import pytest

import actions as a
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")
SETTINGS = Settings(actions=ActionSettings(max_instances_per_variant=12))
FULLWIDTH = "１２３４５６７８９０１２"  # twelve digits to \d, none to AWS
ARN = f"arn:aws:sagemaker:us-east-1:{MAIN}:pipeline/p/execution/abc"


@pytest.fixture
def env() -> a.Env:
    return a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)


@pytest.fixture
def audit(tmp_path) -> a.AuditLog:
    return a.AuditLog(tmp_path / "audit.sqlite")


BAD = {
    "hyperparameter name with a trailing newline": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr\\n": 1}'),
    "pipeline parameter name with a trailing newline": a.RerunPipeline(MAIN, "p", {"Threshold\n": "0.9"}),
    "endpoint with a trailing newline": a.ScaleEndpoint(MAIN, "ep\n", "AllTraffic", 2),
    "variant with a trailing newline": a.ScaleEndpoint(MAIN, "ep", "AllTraffic\n", 2),
    "full-width account digits": a.ScaleEndpoint(FULLWIDTH, "ep", "AllTraffic", 2),
    "account with a trailing newline": a.ScaleEndpoint(MAIN + "\n", "ep", "AllTraffic", 2),
    "ARN with a trailing newline": a.RetryPipelineExecution(MAIN, ARN + "\n"),
    "ARN with full-width account digits": a.RetryPipelineExecution(MAIN, ARN.replace(MAIN, FULLWIDTH)),
    "instance type with a trailing newline": a.LaunchTraining(MAIN, "job", instance_type="ml.m5.xlarge\n"),
    "region with a trailing newline": a.StopTrainingJob(MAIN, "job", region="us-east-1\n"),
    "region with full-width digits": a.StopTrainingJob(MAIN, "job", region="us-east-１"),
    "NaN hyperparameter": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr": NaN}'),
    "Infinity hyperparameter": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr": Infinity}'),
    "-Infinity hyperparameter": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr": -Infinity}'),
    "overflowing float hyperparameter": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr": 1e999}'),
    "NaN float in an object": a.LaunchTraining(MAIN, "job", hyperparameters={"lr": float("nan")}),
    "-inf float in an object": a.RerunPipeline(MAIN, "p", {"Threshold": float("-inf")}),
    "'nan' as text": a.RerunPipeline(MAIN, "p", '{"Threshold": "nan"}'),
    "'-Infinity' as text": a.LaunchTraining(MAIN, "job", hyperparameters='{"lr": "-Infinity"}'),
    "NaN pipeline parameter": a.RerunPipeline(MAIN, "p", '{"Threshold": NaN}'),
    "5,000-digit integer": a.LaunchTraining(MAIN, "job", hyperparameters='{"seed": ' + "7" * 5000 + "}"),
    "5,000-digit integer in an object": a.RerunPipeline(MAIN, "p", {"Seed": 10**5000}),
    "5,000-digit count": a.ScaleEndpoint(MAIN, "ep", "AllTraffic", 10**5000),
    "100k-deep JSON": a.RerunPipeline(MAIN, "p", "[" * 100_000 + "]" * 100_000),
    "20k-deep JSON (under the size cap)": a.RerunPipeline(MAIN, "p", '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}"),
    "NaN in a state machine input": a.StartStateMachine(
        MAIN, f"arn:aws:states:us-east-1:{MAIN}:stateMachine:m", '{"x": NaN}'),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_invalid_row_with_a_clear_message_and_no_aws_call(env, audit, name):
    out = a.run_action(BAD[name], OPERATOR, env, audit, a.new_token())
    assert out.status == "invalid", (name, out.status, out.message)
    assert 15 < len(out.message) < 1000 and "Traceback" not in out.message, out.message
    assert audit.count() == 1 and env.clients.counter.total() == 0


@pytest.mark.parametrize("text, message", [
    ('{"lr": NaN}', "finite"), ('{"lr": 1e999}', "finite"), ('{"lr": ' + "9" * 5000 + "}", "digits"),
    ("[" * 100_001, "characters long"), ("[" * 20_000, "nested too deeply"), ('{"lr": "inf"}', "finite"),
    ('{"lr\\n": 1}', "may use only"),
])
def test_parse_json_object_says_what_is_wrong(text, message):
    with pytest.raises(a.ActionError, match=message):
        a.parse_json_object(text, "hyperparameters")


def test_good_values_still_pass():
    assert a.parse_json_object('{"lr": 0.001, "epochs": 10, "seed": 12345678901234567890, "name": "x", "on": true}',
                               "hyperparameters") == {"lr": "0.001", "epochs": "10", "seed": "12345678901234567890",
                                                      "name": "x", "on": "true"}
    a.ScaleEndpoint(MAIN, "ep-1", "AllTraffic", 2).validate(SETTINGS)
    assert a.RetryPipelineExecution(MAIN, ARN).region_in(Clients(AccountSettings(regions=("us-east-1",)))) == \
        "us-east-1"
