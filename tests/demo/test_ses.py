"""The emulated account's SES: the demo's sender is verified, what it sends is recorded and read back, an unverified
sender is refused (as SES refuses it) and nothing is recorded."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from demo import ses_fill


def _attempts(account) -> int:
    return sum(p["DeliveryAttempts"] for p in account.client("ses").get_send_statistics()["SendDataPoints"])


def test_the_demo_sender_is_verified_and_what_it_sends_is_recorded(account):
    identities = account.client("sesv2").list_email_identities()["EmailIdentities"]
    assert {"IdentityName": ses_fill.SENDER_DOMAIN, "IdentityType": "DOMAIN"}.items() <= next(
        i for i in identities if i["IdentityName"] == ses_fill.SENDER_DOMAIN).items()
    to = f"oncall-{uuid.uuid4().hex[:10]}@example.com"
    before = _attempts(account)
    answer = account.client("sesv2").send_email(
        FromEmailAddress=ses_fill.SENDER, Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": "[FIRING] x"}, "Body": {"Text": {"Data": "Resource: x\nRule: y"}}}})
    [sent] = [m for m in ses_fill.sent(account.url) if m["destinations"].get("ToAddresses") == [to]]
    assert sent == {"id": answer["MessageId"], "source": ses_fill.SENDER, "destinations": {"ToAddresses": [to]},
                    "subject": "[FIRING] x", "body": "Resource: x\nRule: y"}
    assert _attempts(account) >= before + 1


def test_an_unverified_sender_is_refused_and_nothing_is_recorded(account):
    to = f"oncall-{uuid.uuid4().hex[:10]}@example.com"
    with pytest.raises(ClientError) as err:
        account.client("ses").send_email(Source="alerts@not-verified.example.org", Destination={"ToAddresses": [to]},
                                         Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}})
    assert err.value.response["Error"]["Code"] == "MessageRejected"
    assert [m for m in ses_fill.sent(account.url) if m["destinations"].get("ToAddresses") == [to]] == []


def test_seed_verifies_the_sender_in_every_account_of_the_world():
    from moto import mock_aws
    from moto.ses.models import ses_backends

    from demo.world import build_world

    world = build_world(7)
    with mock_aws():
        ses_fill.seed(world)
        accounts = {e.account for e in world.endpoints}
        assert len(accounts) >= 1
        for account in accounts:
            assert ses_backends[account]["us-east-1"]._is_verified_address(ses_fill.SENDER)
            assert not ses_backends[account]["us-east-1"]._is_verified_address("a@other.example")
