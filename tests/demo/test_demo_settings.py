"""The settings `make demo` runs with use what the emulated account seeds: its actions act as the person."""

from __future__ import annotations

from demo.sts_fill import OPERATOR_ROLE
from demo.world import MAIN_ACCOUNT
from sextant.settings import load
from tests.conftest import ROOT


def test_the_demo_acts_through_the_seeded_operator_role_in_its_main_account():
    settings = load(ROOT / "demo" / "sextant.toml")
    main = next(a for a in settings.accounts if a.name == "ml-platform")
    assert main.operator_role_arn == OPERATOR_ROLE and f"::{MAIN_ACCOUNT}:" in OPERATOR_ROLE
    assert settings.auth.local_admin  # single-user demo: its local user is the admin whose name reaches CloudTrail
