"""Finding the subject a lead names: by credit code, registry id, other id, or name."""

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import LeadSubjectRef
from storage.registry.models import Subject

# Spellings of one legal form that registries and monitoring systems mix up.
_SUFFIX_VARIANTS = (("有限责任公司", "有限公司"),)


def normalize_name(name: str) -> str:
    """Return the form in which two spellings of a name compare equal.

    It turns full-width characters into their ASCII forms (NFKC), removes all
    whitespace, writes 有限责任公司 as 有限公司 and folds case, so that
    "东胜区益农农业科技有限责任公司" and "东胜区益农 农业科技有限公司" match.
    """
    text = "".join(unicodedata.normalize("NFKC", name).split())
    for variant, canonical in _SUFFIX_VARIANTS:
        text = text.replace(variant, canonical)
    return text.casefold()


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
    exact = list(await session.scalars(select(Subject).where(Subject.name == name).limit(2)))
    if len(exact) == 1:
        return exact[0], ""

    # TODO: this reads every subject's name; index a normalised name column before the
    # registry grows past a city (tens of thousands of subjects).
    key = normalize_name(name)
    rows = (await session.execute(select(Subject.id, Subject.name))).all()
    matches = [subject_id for subject_id, registered in rows if normalize_name(registered) == key]
    if not matches:
        return None, f"no subject named {name!r}"
    if len(matches) > 1:
        return None, f"{len(matches)} subjects are named {name!r}; name it by credit code"
    return await session.get(Subject, matches[0]), ""
