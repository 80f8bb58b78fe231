"""What the bot's update handlers need, passed to them by aiogram as the `deps` argument."""

from dataclasses import dataclass

from griddispatch.clock import Clock
from storage.db import Database
from storage.escalation.policy import Escalation


@dataclass(frozen=True)
class BotDeps:
    """The database, the clock and the escalation set-up."""

    db: Database
    clock: Clock
    escalation: Escalation
