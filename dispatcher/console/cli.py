"""`griddispatch users create`: console accounts from the command line."""

import argparse
import sys

from dispatcher.cli.commands import database
from griddispatch.clock import SystemClock
from griddispatch.i18n import Translator
from griddispatch.settings import Settings
from storage.accounts.models import UserRole
from storage.accounts.passwords import generate_password
from storage.accounts.service import create_user


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """Return the password to set and whether it was made here (and must be shown)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


async def create_console_user(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Create a console user; print a generated password once."""
    password, generated = _password(args)
    async with database(settings) as db:
        user = await create_user(
            db,
            args.name,
            password,
            role=UserRole(args.role),
            county_code=args.county,
            now=SystemClock().now(),
        )
    print(_("Console user {name} created with role {role}.", name=user.username, role=user.role))
    if generated:
        print(_("Password, shown only now:"))
        print(password)
    return 0
