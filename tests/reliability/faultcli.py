"""``python -m tests.reliability.faultcli run ...``: the real collector CLI, with faults from ``$SEXTANT_FAULTS``.

``SEXTANT_FAULTS`` is a JSON :class:`tests.reliability.faults.FaultPlan`, e.g.
``{"rate": 0.3, "seed": 1}`` or ``{"permanent": {"logs": "access_denied"}}``. What was injected is
printed to stderr as one ``faults: {...}`` JSON line when the CLI returns.
"""

from __future__ import annotations

import json
import os
import sys

from collectors import __main__ as cli
from collectors import runner
from tests.reliability.faults import FaultPlan, FaultyClients, Injector


def main(argv: list[str] | None = None) -> int:
    injector = Injector(FaultPlan.from_json(os.environ.get("SEXTANT_FAULTS", "{}")))
    runner.Clients = lambda account: FaultyClients(account, injector=injector)  # type: ignore[misc]
    try:
        return cli.main(argv)
    finally:
        print("faults: " + json.dumps(injector.summary()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
