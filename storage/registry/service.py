"""Writing the registry: importing files, invite codes and Telegram binding."""

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import GridDispatchError, NotFoundError, ValidationError
from griddispatch.geo import to_wgs84
from storage.db import Database
from storage.plans.grades import GradeSource, plans_in, set_grade
from storage.plans.progress import move_open_entries
from storage.registry.files import ParsedFile, read_registry_file
from storage.registry.models import Division, Inspector, Invite, Subject
from storage.registry.rows import DivisionRow, InspectorRow, RowError, SubjectRow

log = logging.getLogger(__name__)

_KIND_ORDER = {"divisions": 0, "inspectors": 1, "subjects": 2}
_LEVEL_ORDER = {"city": 0, "county": 1, "township": 2, "grid": 3}
INVITE_TTL = timedelta(days=14)
# Invite codes avoid 0/O and 1/I/L, which inspectors misread when typing them.
_INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 8


@dataclass
class ImportReport:
    """What importing one file did."""

    path: Path
    kind: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def _assign(record: object, values: dict[str, object]) -> bool:
    """Set attributes that differ; return whether anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    return changed


def _count(report: ImportReport, *, inserted: bool, changed: bool) -> None:
    if inserted:
        report.inserted += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1


async def _import_divisions(
    session: AsyncSession, parsed: ParsedFile, report: ImportReport
) -> None:
    rows = sorted(
        ((line, row) for line, row in parsed.rows if isinstance(row, DivisionRow)),
        key=lambda item: _LEVEL_ORDER[item[1].level],
    )
    known = set(await session.scalars(select(Division.code)))
    for line, row in rows:
        parent_code = row.parent_code
        if row.level == "city" and parent_code not in known:
            # The province above a city is outside the registry.
            parent_code = None
        if parent_code and parent_code not in known:
            report.errors.append(
                RowError(
                    str(parsed.path),
                    line,
                    NotFoundError(
                        "parent code {code!r} not found; import the parent division first",
                        code=row.parent_code,
                    ),
                )
            )
            continue
        existing = await session.get(Division, row.code)
        values: dict[str, object] = {
            "name": row.name,
            "level": row.level,
            "parent_code": parent_code,
            "boundary_geojson": row.boundary_geojson,
        }
        if existing is None:
            session.add(Division(code=row.code, **values))
            known.add(row.code)
            await session.flush()
        changed = existing is not None and _assign(existing, values)
        _count(report, inserted=existing is None, changed=changed)


async def _import_inspectors(
    session: AsyncSession, parsed: ParsedFile, report: ImportReport
) -> None:
    known_divisions = set(await session.scalars(select(Division.code)))
    existing_by_code = {i.code: i for i in await session.scalars(select(Inspector))}
    for line, row in parsed.rows:
        assert isinstance(row, InspectorRow)
        if row.division_code not in known_divisions:
            report.errors.append(
                RowError(
                    str(parsed.path),
                    line,
                    NotFoundError(
                        "division code {code!r} not found; "
                        "import the divisions file first or correct the code",
                        code=row.division_code,
                    ),
                )
            )
            continue
        values: dict[str, object] = {
            "name": row.name,
            "phone": row.phone,
            "role": row.role,
            "division_code": row.division_code,
        }
        existing = existing_by_code.get(row.code)
        if existing is None:
            inspector = Inspector(code=row.code, reachable=True, **values)
            session.add(inspector)
            existing_by_code[row.code] = inspector
        changed = existing is not None and _assign(existing, values)
        _count(report, inserted=existing is None, changed=changed)


def _subject_location(row: SubjectRow) -> tuple[float | None, float | None]:
    if row.longitude is None or row.latitude is None:
        return None, None
    longitude, latitude = to_wgs84(row.longitude, row.latitude, row.coordinate_system)
    return round(longitude, 7), round(latitude, 7)


async def _import_subjects(
    session: AsyncSession, parsed: ParsedFile, report: ImportReport, *, now: datetime
) -> None:
    grids = set(await session.scalars(select(Division.code).where(Division.level == "grid")))
    inspector_ids = dict((await session.execute(select(Inspector.code, Inspector.id))).all())
    subjects = list(await session.scalars(select(Subject)))
    by_credit = {s.credit_code: s for s in subjects if s.credit_code}
    by_other = {s.other_id: s for s in subjects if s.other_id}
    # TODO: checks grades against the shipped plans, because import_files has no settings to
    # name another plan folder (GRIDDISPATCH_PLAN_DIR).
    grades = plans_in(None).for_day(now.date()).grade_codes
    for line, row in parsed.rows:
        assert isinstance(row, SubjectRow)
        problem = _subject_problem(row, grids, inspector_ids) or _grade_problem(row, grades)
        if problem is not None:
            report.errors.append(RowError(str(parsed.path), line, problem))
            continue
        longitude, latitude = _subject_location(row)
        values: dict[str, object] = {
            "name": row.name,
            "industry": row.industry,
            "grid_code": row.grid_code,
            "inspector_id": inspector_ids.get(row.inspector_code) if row.inspector_code else None,
            "longitude": longitude,
            "latitude": latitude,
            "address": row.address,
            "registered": row.registered,
        }
        existing = by_credit.get(row.credit_code or "") or by_other.get(row.other_id or "")
        if existing is None:
            subject = Subject(credit_code=row.credit_code, other_id=row.other_id, **values)
            session.add(subject)
            if row.credit_code:
                by_credit[row.credit_code] = subject
            if row.other_id:
                by_other[row.other_id] = subject
        previous_inspector = existing.inspector_id if existing is not None else None
        changed = existing is not None and _assign(existing, values)
        record = existing if existing is not None else subject
        changed |= await _import_grade(session, record, row, parsed, now=now)
        if existing is not None and existing.inspector_id != previous_inspector:
            await move_open_entries(
                session,
                existing,
                to_inspector_id=existing.inspector_id,
                reason=f"subject rebound by registry file {parsed.path.name}",
                now=now,
            )
        _count(report, inserted=existing is None, changed=changed)


def _grade_problem(row: SubjectRow, grades: list[str]) -> GridDispatchError | None:
    if row.risk_grade is None or row.risk_grade in grades:
        return None
    return ValidationError(
        "risk grade {grade!r} is not defined in the inspection plan; "
        "use one of {grades} or leave the cell empty",
        grade=row.risk_grade,
        grades=grades,
    )


async def _import_grade(
    session: AsyncSession, subject: Subject, row: SubjectRow, parsed: ParsedFile, *, now: datetime
) -> bool:
    """Set the grade a row gives, with a trail entry; an empty cell keeps the grade."""
    if row.risk_grade is None or row.risk_grade == subject.risk_grade:
        return False
    if subject.id is None:
        await session.flush()
    return await set_grade(
        session,
        subject,
        row.risk_grade,
        source=GradeSource.IMPORT,
        actor="registry-import",
        reason=f"registry file {parsed.path.name}",
        now=now,
    )


def _subject_problem(
    row: SubjectRow, grids: set[str], inspector_ids: dict[str, int]
) -> GridDispatchError | None:
    if row.grid_code not in grids:
        return NotFoundError(
            "grid code {code!r} not found; import the divisions file first", code=row.grid_code
        )
    if row.inspector_code and row.inspector_code not in inspector_ids:
        return NotFoundError(
            "inspector code {code!r} not found; import the inspectors first",
            code=row.inspector_code,
        )
    return None


_IMPORTERS = {
    "divisions": _import_divisions,
    "inspectors": _import_inspectors,
}


def _read(path: Path) -> ParsedFile:
    try:
        return read_registry_file(path)
    except FileNotFoundError:
        raise ValidationError("registry file {path} not found; check the path", path=path) from None
    except OSError as exc:
        raise ValidationError(
            "registry file {path} cannot be read: {reason}", path=path, reason=exc.strerror
        ) from None


async def import_files(
    db: Database, paths: Iterable[Path], *, now: datetime | None = None
) -> list[ImportReport]:
    """Import registry files, divisions first, then inspectors, then subjects.

    Each file is one transaction. Rows that fail validation or name unknown
    codes are reported and skipped; the other rows still go in. Importing the
    same file again changes nothing. `now` (default: the wall clock) stamps
    the grade changes and task moves a subjects file causes.
    """
    parsed_files = [_read(Path(path)) for path in paths]
    parsed_files.sort(key=lambda parsed: _KIND_ORDER[parsed.kind])
    reports = []
    for parsed in parsed_files:
        report = ImportReport(path=parsed.path, kind=parsed.kind, errors=list(parsed.errors))
        async with db.transaction() as session:
            if parsed.kind == "subjects":
                # Grade changes and moved tasks carry the import time in their trail.
                await _import_subjects(session, parsed, report, now=now or datetime.now(UTC))
            else:
                await _IMPORTERS[parsed.kind](session, parsed, report)
        log.info(
            "registry file imported file=%s kind=%s inserted=%d updated=%d unchanged=%d errors=%d",
            parsed.path.name,
            parsed.kind,
            report.inserted,
            report.updated,
            report.unchanged,
            len(report.errors),
        )
        reports.append(report)
    return reports


async def registry_is_empty(db: Database) -> bool:
    """Return whether no division has been imported yet."""
    async with db.reading() as session:
        count = await session.scalar(select(func.count()).select_from(Division))
        return not count


async def create_invite(db: Database, inspector_code: str, *, now: datetime) -> Invite:
    """Create a one-time invite code for an inspector. Raises NotFoundError for an unknown code."""
    async with db.transaction() as session:
        inspector = await session.scalar(select(Inspector).where(Inspector.code == inspector_code))
        if inspector is None:
            raise NotFoundError(
                "inspector {code!r} not found; check the staff code in the registry",
                code=inspector_code,
            )
        code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        invite = Invite(
            code=code, inspector_id=inspector.id, created_at=now, expires_at=now + INVITE_TTL
        )
        session.add(invite)
        log.info("invite created inspector=%s expires=%s", inspector.id, invite.expires_at)
        return invite


async def bind_telegram(
    db: Database,
    code: str,
    *,
    user_id: int,
    chat_id: int,
    language: str | None,
    now: datetime,
) -> Inspector:
    """Bind a Telegram account to the inspector an invite code was made for.

    Raises ValidationError for an unknown, used or expired code.
    """
    async with db.transaction() as session:
        invite = await session.get(Invite, code.strip().upper())
        if invite is None or invite.used_at is not None or invite.expires_at <= now:
            raise ValidationError(
                "invite code {code!r} is unknown, used or expired; ask your administrator "
                "for a new one",
                code=code,
            )
        inspector = await session.get(Inspector, invite.inspector_id)
        assert inspector is not None
        previous = await session.scalar(
            select(Inspector).where(Inspector.telegram_user_id == user_id)
        )
        if previous is not None and previous.id != inspector.id:
            previous.telegram_user_id = None
            previous.telegram_chat_id = None
            await session.flush()
        inspector.telegram_user_id = user_id
        inspector.telegram_chat_id = chat_id
        inspector.language = language
        inspector.reachable = True
        invite.used_at = now
        log.info("telegram account bound inspector=%s user=%s", inspector.id, user_id)
        return inspector


async def bind_local_users(db: Database, bindings: dict[int, int], *, now: datetime) -> None:
    """Bind inspectors (id to user id) to simulated users of the local Bot API server at once.

    Only for the local Bot API server, where the simulated user's private
    chat id equals its user id and no invite is exchanged.
    """
    async with db.transaction() as session:
        inspectors = await session.scalars(
            select(Inspector).where(Inspector.id.in_(list(bindings)))
        )
        for inspector in inspectors:
            inspector.telegram_user_id = bindings[inspector.id]
            inspector.telegram_chat_id = bindings[inspector.id]
            inspector.language = "zh-hans"
            inspector.reachable = True
    log.info("inspectors bound to local simulated users count=%d at=%s", len(bindings), now)
