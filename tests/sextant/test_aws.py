"""The client factory's retry rule (sextant/aws.py): answers no retry can change (denied, not implemented) are
not retried; throttling and AWS's own 5xx still are. No network: a ``before-send`` handler answers every attempt."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from sextant.aws import final_answer, register_retry_stop
from tests.reliability.faults import EMULATOR_NOT_IMPLEMENTED

FAST = Config(retries={"mode": "standard", "total_max_attempts": 3})  # as the factory's, with less backoff to wait


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):
        yield self._body


def _attempts(status: int, code: str | None, body: bytes | None = None, stop: bool = True) -> int:
    client = boto3.client("application-autoscaling", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="not-a-secret",
                          config=FAST)
    if stop:
        register_retry_stop(client)
    attempts = 0

    def answer(request, **_):
        nonlocal attempts
        attempts += 1
        if body is not None:
            return AWSResponse(request.url, status, {"Content-Type": "text/html"}, _Raw(body))
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1",
                                                 "x-amzn-ErrorType": code},
                           _Raw(json.dumps({"__type": code, "message": "answered"}).encode()))

    client.meta.events.register("before-send", answer)
    with pytest.raises(ClientError):
        client.describe_scaling_activities(ServiceNamespace="sagemaker")
    return attempts


def test_an_operation_the_emulated_account_lacks_is_asked_once_not_three_times():
    assert _attempts(500, None, EMULATOR_NOT_IMPLEMENTED, stop=False) == 3  # botocore alone retries it
    assert _attempts(500, None, EMULATOR_NOT_IMPLEMENTED) == 1


@pytest.mark.parametrize("code", ["AccessDeniedException", "UnknownOperationException", "NotImplementedException"])
def test_denied_and_not_implemented_answers_are_not_retried(code):
    assert _attempts(400 if code != "NotImplementedException" else 501, code) == 1


@pytest.mark.parametrize(("status", "code"), [(400, "ThrottlingException"), (500, "InternalFailure"),
                                              (503, "ServiceUnavailable")])
def test_throttling_and_aws_server_errors_are_still_retried(status, code):
    assert _attempts(status, code) == 3


def test_final_answers_are_named():
    assert final_answer("AccessDeniedException") == final_answer("AccessDenied") == "denied"
    assert final_answer("UnauthorizedOperation") == final_answer("InvalidClientTokenId") == "denied"
    assert final_answer("500", 500, EMULATOR_NOT_IMPLEMENTED.decode()) == "not implemented"
    assert final_answer("InternalError", 500, "The describe_x action has not been implemented") == "not implemented"
    assert final_answer("InternalFailure", 500, "We encountered an internal error") is None
    assert final_answer("ThrottlingException", 400, "Rate exceeded") is None
    assert final_answer("DataUnavailableException", 400, "") is None
