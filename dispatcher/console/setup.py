"""The first admin account and the console's address, for `griddispatch up`."""

import logging
from datetime import datetime

from griddispatch.settings import Settings
from storage.accounts.models import UserRole
from storage.accounts.passwords import generate_password
from storage.accounts.service import count_users, create_user
from storage.db import Database

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin"


def console_url(settings: Settings) -> str:
    """Return the address of the console served by the API."""
    return f"http://{settings.api_host}:{settings.api_port}/console/"


async def ensure_first_admin(db: Database, *, now: datetime) -> str | None:
    """Create the user `admin` with a random password when there is no user; return it once."""
    if await count_users(db) > 0:
        return None
    password = generate_password()
    await create_user(db, FIRST_ADMIN, password, role=UserRole.ADMIN, now=now)
    log.info("first console admin created user=%s", FIRST_ADMIN)
    return password
