"""Imports every model so `Base.metadata` knows all tables (for Alembic and tests)."""

from storage.accounts.models import Session, User
from storage.api_tokens.models import ApiToken
from storage.base import Base
from storage.callbacks.models import Callback, CallbackAttempt
from storage.directives.models import Directive
from storage.escalation.models import Lease
from storage.hooks.models import SeenSignature
from storage.labs.models import LabSample
from storage.leads.models import Lead
from storage.outbox.models import OutboxMessage
from storage.plans.models import GradeChange, PlanEntry, PlanWarning
from storage.registry.models import Division, Inspector, Invite, Subject
from storage.results.models import InspectionResult, Photo, ResultItem
from storage.tasks.models import Task, TaskEvent
from storage.telegram.drafts import Draft
from storage.telegram.models import Delivery

__all__ = [
    "ApiToken",
    "Base",
    "Callback",
    "CallbackAttempt",
    "Delivery",
    "Directive",
    "Division",
    "Draft",
    "GradeChange",
    "InspectionResult",
    "Inspector",
    "Invite",
    "LabSample",
    "Lead",
    "Lease",
    "OutboxMessage",
    "Photo",
    "PlanEntry",
    "PlanWarning",
    "ResultItem",
    "SeenSignature",
    "Session",
    "Subject",
    "Task",
    "TaskEvent",
    "User",
]
