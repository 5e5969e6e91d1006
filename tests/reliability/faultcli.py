"""``python -m tests.reliability.faultcli run ...``: the real collector CLI, with faults from ``$SEXTANT_FAULTS``.

``SEXTANT_FAULTS`` is a JSON :class:`tests.reliability.faults.FaultPlan`, e.g.
``{"rate": 0.3, "seed": 1}`` or ``{"permanent": {"logs": "access_denied"}}``. What was injected is
printed to stderr as one ``faults: {...}`` JSON line when the CLI returns.

``SEXTANT_OPERATION_FAULTS`` (instead) is a JSON list of :class:`tests.reliability.faults.OperationFault`
arguments, e.g. ``[{"operation": "sagemaker:ListTags", "kind": "signature_mismatch", "message": "..."}]``.
"""

from __future__ import annotations

import json
import os
import sys

from collectors import __main__ as cli
from collectors import runner
from tests.reliability.faults import FaultPlan, FaultyClients, Injector, OperationFault


class _Each:
    """Several operation faults attached as one injector."""

    def __init__(self, faults: list[OperationFault]) -> None:
        self.faults = faults

    def attach(self, client) -> None:
        for f in self.faults:
            f.attach(client)

    def summary(self) -> dict:
        return {f"{f.service}:{f.operation}": {"attempts": f.attempts, "injected": f.injected} for f in self.faults}


def main(argv: list[str] | None = None) -> int:
    operations = os.environ.get("SEXTANT_OPERATION_FAULTS")
    injector: Injector | _Each = (_Each([OperationFault(**f) for f in json.loads(operations)]) if operations else
                                  Injector(FaultPlan.from_json(os.environ.get("SEXTANT_FAULTS", "{}"))))
    runner.Clients = lambda account: FaultyClients(account, injector=injector)  # type: ignore[misc,arg-type]
    try:
        return cli.main(argv)
    finally:
        print("faults: " + json.dumps(injector.summary()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
