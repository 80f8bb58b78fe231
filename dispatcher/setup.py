"""Building what every process needs from settings, without importing the bot framework."""

import logging

from griddispatch.data import data_path
from griddispatch.settings import Settings
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.registry.service import import_files

log = logging.getLogger(__name__)

EXAMPLE_REGISTRY = ("registry", "ordos")


def escalation_from(settings: Settings) -> Escalation:
    """Load the escalation policies and the working calendar that settings name."""
    return Escalation.load(
        settings.escalation_policy_file,
        settings.resolved_calendar_dir,
        settings.working_hours,
    )


async def load_example_registry(db: Database) -> None:
    """Import the Ordos example registry shipped with the project."""
    folder = data_path(*EXAMPLE_REGISTRY)
    files = [folder / name for name in ("divisions.csv", "inspectors.csv", "subjects.csv")]
    reports = await import_files(db, files)
    for report in reports:
        log.info("example registry loaded kind=%s rows=%d", report.kind, report.inserted)
