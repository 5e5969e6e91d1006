"""Credentials never survive an error text: signature dumps, token headers and parameters, long tokens."""

from __future__ import annotations

from sextant.redact import REDACTED, redact

TOKEN = "IQoJb3JpZ2luX2VjEJr" + "A" * 300 + "xyz=="  # the shape of an STS session token
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_signature_error_loses_its_canonical_request_and_string_to_sign():
    message = ("An error occurred (SignatureDoesNotMatch) when calling the ListEndpoints operation: The request "
               "signature we calculated does not match the signature you provided. The Canonical String for this "
               f"request should have been\n'POST\n/\n\nhost:api.sagemaker.us-east-1.amazonaws.com\n"
               f"x-amz-security-token:{TOKEN}\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n...'")
    out = redact(message)
    assert TOKEN not in out and TOKEN[:60] not in out
    assert "SignatureDoesNotMatch" in out and "ListEndpoints" in out  # what happened stays readable
    assert "Canonical String for this request should have been [redacted]" in out


def test_token_headers_parameters_and_secret_keys_are_redacted_wherever_they_are():
    for text in (f"x-amz-security-token: {TOKEN}", f"https://s3/x?X-Amz-Security-Token={TOKEN}&a=1",
                 f"aws_session_token='{TOKEN}'", f"secret {SECRET} leaked", f"SecretAccessKey={SECRET}"):
        out = redact(text)
        assert TOKEN not in out and SECRET not in out and REDACTED in out, out


def test_ordinary_errors_are_left_as_they_are():
    text = ("An error occurred (AccessDeniedException) when calling the DescribeScalingActivities operation: "
            "User: arn:aws:sts::123456789012:assumed-role/SextantReadOnly/sextant is not authorized")
    assert redact(text) == text


def test_a_database_password_in_an_error_is_redacted():
    out = redact("connection to server failed: host=db port=5432 dbname=lake user=sextant password=hunter2-xyz")
    assert "hunter2" not in out and "dbname=lake" in out
