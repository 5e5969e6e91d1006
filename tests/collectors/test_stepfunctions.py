"""stepfunctions collector: state machines and executions equal the account, a failed execution names its
failing state; a second run reads the history only of executions newly failed."""

from __future__ import annotations

from tests.collectors.conftest import all_items, count, diff, ok, ops


def test_failed_state_machine_executions_name_the_failing_state(collection, account):
    ok(collection.run(["stepfunctions"]))
    sfn = account.client("stepfunctions")
    machines = all_items(sfn, "list_state_machines", "stateMachines")
    assert machines and count(collection, "aws_sfn_state_machine") == len(machines)
    executions = [e for m in machines for e in all_items(sfn, "list_executions", "executions",
                                                        stateMachineArn=m["stateMachineArn"])]
    assert count(collection, "aws_sfn_execution") == len(executions)
    failed = collection.query("SELECT failing_state, error, cause FROM aws_sfn_execution WHERE status = 'FAILED'")
    assert failed and all(state and error for state, error, _ in failed)


def test_stepfunctions_second_run_skips_terminal_executions(collection):
    ok(collection.run(["stepfunctions"]))
    sfn_stored = dict(collection.query("SELECT execution_arn, status FROM aws_sfn_execution"))
    before = collection.calls()
    ok(collection.run(["stepfunctions"]))
    calls = diff(collection.calls(), before)
    sfn_after = dict(collection.query("SELECT execution_arn, status FROM aws_sfn_execution"))
    newly_failed = {a for a, status in sfn_after.items() if status == "FAILED" and sfn_stored.get(a) != "FAILED"}
    assert ops(calls, "GetExecutionHistory") == len(newly_failed)
