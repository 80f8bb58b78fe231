"""Finding the subject a lead names: by credit code, registry id, other id, or name."""

import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import LeadSubjectRef
from storage.registry.models import Subject
from storage.registry.names import normalize_name


def normalize_code(code: str) -> str:
    """Return an identifier without whitespace, in ASCII and upper case."""
    return "".join(unicodedata.normalize("NFKC", code).split()).upper()


@dataclass(frozen=True)
class SubjectMatch:
    """The subject a lead names, how it was found, or why none was."""

    subject: Subject | None
    matched_by: str | None = None
    problem: str | None = None


async def match_subject(session: AsyncSession, ref: LeadSubjectRef) -> SubjectMatch:
    """Return the registry subject `ref` names, trying its identifiers before its name."""
    problems: list[str] = []
    if ref.credit_code:
        code = normalize_code(ref.credit_code)
        subject = await session.scalar(select(Subject).where(Subject.credit_code == code))
        if subject is not None:
            return SubjectMatch(subject, "credit_code")
        problems.append(f"credit code {code!r} not found")
    if ref.id:
        subject = await session.get(Subject, ref.id)
        if subject is not None:
            return SubjectMatch(subject, "id")
        problems.append(f"subject id {ref.id} not found")
    if ref.other_id:
        other_id = "".join(unicodedata.normalize("NFKC", ref.other_id).split())
        subject = await session.scalar(select(Subject).where(Subject.other_id == other_id))
        if subject is not None:
            return SubjectMatch(subject, "other_id")
        problems.append(f"other id {other_id!r} not found")
    if ref.name:
        subject, problem = await _subject_by_name(session, ref.name)
        if subject is not None:
            return SubjectMatch(subject, "name")
        problems.append(problem)
    return SubjectMatch(None, problem="; ".join(problems))


async def _subject_by_name(session: AsyncSession, name: str) -> tuple[Subject | None, str]:
    """Return the one subject whose name matches `name`, or None and the reason."""
    key = normalize_name(name)
    same_key = select(Subject).where(Subject.name_key == key)
    # An exact match has the same key, so the name_key index serves this lookup too,
    # where `name` alone has no index.
    exact = list(await session.scalars(same_key.where(Subject.name == name).limit(2)))
    if len(exact) == 1:
        return exact[0], ""

    matches = list(await session.scalars(same_key.limit(2)))
    if not matches:
        return None, f"no subject named {name!r}"
    if len(matches) > 1:
        count = await session.scalar(select(func.count()).where(Subject.name_key == key))
        return None, f"{count} subjects are named {name!r}; name it by credit code"
    return matches[0], ""
