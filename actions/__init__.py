"""Actions: typed requests that change AWS, validated, authorized, planned, audited. No Streamlit here.

Pages build a request and call :func:`run_action`; the confirmation dialog lives with the dashboard
(``dashboard/action_ui.py``). The audit log is :mod:`actions.audit`, who may act is :mod:`actions.roles`.
"""

from actions.alarms import CreateRecommendedAlarms, DeleteManagedAlarms
from actions.alert_actions import (
    Acknowledge,
    Acks,
    CreateSilence,
    Silence,
    Silences,
    acknowledge,
    create_silence,
    end_silence,
)
from actions.audit import AuditLog, AuditRow
from actions.refresh import (
    RefreshEndpoint,
    RefreshQueue,
    RefreshRequest,
    plan_refresh,
    request_refresh,
    serve_refreshes,
)
from actions.restore import cancel_restore, run_due_restores
from actions.roles import Actor, role_of
from actions.schedule import RestoreSchedule, ScheduledRestore
from actions.service import (
    ActionError,
    Env,
    LaunchTraining,
    Outcome,
    Plan,
    RedriveExecution,
    Request,
    RerunPipeline,
    RestoreScalableTarget,
    RetryPipelineExecution,
    ScaleEndpoint,
    ScaleToMinimum,
    StartStateMachine,
    StopPipelineExecution,
    StopTrainingJob,
    new_token,
    parse_json_object,
    plan,
    run_action,
)

__all__ = [
    "Acknowledge", "Acks", "ActionError", "Actor", "AuditLog", "AuditRow", "CreateRecommendedAlarms", "CreateSilence",
    "DeleteManagedAlarms", "Env", "LaunchTraining", "Outcome", "Plan", "RedriveExecution",
    "RefreshEndpoint", "RefreshQueue", "RefreshRequest", "Request", "RerunPipeline", "RestoreScalableTarget",
    "RestoreSchedule", "RetryPipelineExecution", "ScaleEndpoint", "ScaleToMinimum", "ScheduledRestore", "Silence",
    "Silences", "StartStateMachine", "StopPipelineExecution", "StopTrainingJob", "acknowledge", "cancel_restore",
    "create_silence", "end_silence", "new_token", "parse_json_object", "plan", "plan_refresh", "request_refresh",
    "role_of", "run_action", "run_due_restores", "serve_refreshes",
]
