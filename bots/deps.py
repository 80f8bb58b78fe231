"""What the bot's update handlers need, passed to them by aiogram as the `deps` argument."""

from dataclasses import dataclass, field

from griddispatch.clock import Clock
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore
from storage.results.service import ResultRules


@dataclass(frozen=True)
class BotDeps:
    """The database, the clock, the escalation set-up, the file store and result rules."""

    db: Database
    clock: Clock
    escalation: Escalation
    files: FileStore
    rules: ResultRules = field(default_factory=ResultRules)
