"""Creating console users, signing in, and the server-side sessions behind the cookie."""

import asyncio
import hashlib
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from griddispatch.errors import GridDispatchError, NotFoundError, ValidationError
from griddispatch.i18n import mark
from storage.accounts.models import Session, User, UserRole
from storage.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from storage.db import Database
from storage.registry.models import Division, DivisionLevel

log = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=12)
# Wrong passwords in a row that lock a console account, and for how long.
MAX_FAILED_SIGN_INS = 5
SIGN_IN_LOCKOUT = timedelta(minutes=15)
_USERNAME = re.compile(r"[A-Za-z0-9._-]{2,40}")


@dataclass(frozen=True)
class SignedIn:
    """A user with the session a browser carries."""

    user_id: int
    username: str
    role: UserRole
    county_code: str | None
    language: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        """Whether the user may manage accounts."""
        return self.role is UserRole.ADMIN


def _check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValidationError(
            "username {username!r} is not valid; use 2-40 letters, digits, '.', '_' or '-'",
            username=username,
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "the password has {length} characters; use at least {min_length}",
            length=len(password),
            min_length=MIN_PASSWORD_LENGTH,
        )


async def _check_county(db: Database, role: UserRole, county_code: str | None) -> None:
    if role is not UserRole.COUNTY:
        if county_code is not None:
            raise ValidationError(
                "role {role!r} takes no county; leave --county out", role=role.value
            )
        return
    if county_code is None:
        raise ValidationError("a county user needs a county code; pass --county CODE")
    async with db.reading() as session:
        division = await session.get(Division, county_code)
    if division is None or division.level != DivisionLevel.COUNTY.value:
        raise NotFoundError(
            "county {code!r} not found; give the code of a county", code=county_code
        )


async def create_user(
    db: Database,
    username: str,
    password: str,
    *,
    role: UserRole,
    county_code: str | None = None,
    now: datetime,
) -> User:
    """Create a console user; raises ValidationError for a taken name or a weak password."""
    _check_username(username)
    _check_password(password)
    await _check_county(db, role, county_code)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with db.transaction() as session:
        taken = await session.scalar(select(User.id).where(User.username == username))
        if taken is not None:
            raise ValidationError(
                "username {username!r} is taken; choose another", username=username
            )
        user = User(
            username=username,
            password_hash=password_hash,
            role=role.value,
            county_code=county_code,
            language="zh_CN",
            disabled=False,
            created_at=now,
        )
        session.add(user)
    log.info("console user created user=%s role=%s county=%s", user.id, role.value, county_code)
    return user


async def count_users(db: Database) -> int:
    """Return how many console users exist."""
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


class SignInLockedError(GridDispatchError):
    """Raised when a user signs in while the account is locked after too many wrong passwords."""

    def __init__(self, username: str, until: datetime, *, now: datetime) -> None:
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        super().__init__(
            mark(
                "user {username!r} is locked after {failures} wrong passwords; "
                "try again in {minutes} min"
            ),
            username=username,
            failures=MAX_FAILED_SIGN_INS,
            minutes=minutes,
        )
        self.until = until


async def check_credentials(
    db: Database, username: str, password: str, *, now: datetime
) -> User | None:
    """Return the enabled user with this name and password, else None.

    Counts wrong passwords per user. The MAX_FAILED_SIGN_INS-th in a row locks
    the account for SIGN_IN_LOCKOUT, and while it is locked this raises
    SignInLockedError without checking the password, so guessing gains nothing.
    """
    async with db.reading() as session:
        user = await session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        return None
    if user.locked_until is not None and user.locked_until > now:
        raise SignInLockedError(username, user.locked_until, now=now)

    matches = await asyncio.to_thread(verify_password, password, user.password_hash)
    if not matches:
        await _count_failure(db, user.id, now=now)
        return None
    if user.failed_sign_ins or user.locked_until is not None:
        await _clear_failures(db, user.id)
    return user


async def _count_failure(db: Database, user_id: int, *, now: datetime) -> None:
    """Add a wrong password to the user's count, and lock the account at the limit."""
    async with db.transaction() as session:
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            return
        user.failed_sign_ins += 1
        if user.failed_sign_ins < MAX_FAILED_SIGN_INS:
            return
        user.failed_sign_ins = 0
        user.locked_until = now + SIGN_IN_LOCKOUT
    log.warning(
        "console user locked after wrong passwords user=%s count=%d until=%s",
        user_id,
        MAX_FAILED_SIGN_INS,
        user.locked_until.isoformat(),
    )


async def _clear_failures(db: Database, user_id: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(User).where(User.id == user_id).values(failed_sign_ins=0, locked_until=None)
        )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(db: Database, user: User, *, now: datetime) -> str:
    """Store a new session for `user` and return the cookie value (kept only as a hash)."""
    token = secrets.token_urlsafe(32)
    async with db.transaction() as session:
        await session.execute(delete(Session).where(Session.expires_at < now))
        session.add(
            Session(
                token_hash=_hash_token(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    log.info("console session opened user=%s", user.id)
    return token


async def session_user(db: Database, token: str, *, now: datetime) -> SignedIn | None:
    """Return the user of the unexpired session with this cookie value, else None."""
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Session, User)
                .join(User, User.id == Session.user_id)
                .where(Session.token_hash == _hash_token(token), Session.expires_at > now)
            )
        ).first()
    if row is None or row[1].disabled:
        return None
    stored, user = row
    return SignedIn(
        user_id=user.id,
        username=user.username,
        role=UserRole(user.role),
        county_code=user.county_code,
        language=user.language,
        csrf_token=stored.csrf_token,
    )


async def close_session(db: Database, token: str) -> None:
    """Delete the session with this cookie value, if there is one."""
    async with db.transaction() as session:
        await session.execute(delete(Session).where(Session.token_hash == _hash_token(token)))


async def set_language(db: Database, user_id: int, language: str) -> None:
    """Remember the console language a user chose."""
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        if user is not None:
            user.language = language
