"""Registry tables: the division tree, inspectors, subjects and invite codes."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, String, Text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, validates

from storage.base import Base, BigId, UTCDateTime
from storage.registry.names import normalize_name


class DivisionLevel(StrEnum):
    """Level of a division in the tree, from the city down to the grid."""

    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    GRID = "grid"


class Role(StrEnum):
    """What an inspector does, which decides what they receive and may act on."""

    INSPECTOR = "inspector"
    GRID_LEADER = "grid_leader"
    TOWNSHIP = "township"
    COUNTY = "county"
    COMMAND_CENTRE = "command_centre"


class Division(Base):
    """A city, county, township or grid, keyed by its administrative code."""

    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(
        String(20), ForeignKey("divisions.code"), index=True
    )
    boundary_geojson: Mapped[str | None] = mapped_column(Text)


class Inspector(Base):
    """A person in the supervision chain, optionally bound to a Telegram account."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    division_code: Mapped[str] = mapped_column(String(20), ForeignKey("divisions.code"), index=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str | None] = mapped_column(String(16))
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)


def _name_key_on_insert(context: DefaultExecutionContext) -> str:
    """Compute name_key for a Core INSERT that sets only the name."""
    # SQLAlchemy 2.1 ships get_current_parameters without annotations.
    parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return normalize_name(parameters["name"])


class Subject(Base):
    """A registered producer or business (生产经营主体) bound to one grid and inspector."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    other_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # normalize_name(name), the key lead matching looks names up by. Setting `name` on an
    # instance fills it, and so does a Core INSERT that leaves it out, but a Core UPDATE of
    # `name` must set it too. Text, because NFKC can lengthen a name (㍿ to 株式会社).
    # Nullable, because SQLite cannot make the added column NOT NULL without rebuilding
    # subjects, which the foreign keys pointing at subjects block.
    name_key: Mapped[str | None] = mapped_column(Text, index=True, default=_name_key_on_insert)
    industry: Mapped[str] = mapped_column(String(32))
    grid_code: Mapped[str] = mapped_column(String(20), ForeignKey("divisions.code"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspectors.id"), index=True)
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    registered: Mapped[bool] = mapped_column(Boolean, default=True)
    # Risk grade (风险分级) from the plan's grade list; None means the plan's default grade.
    risk_grade: Mapped[str | None] = mapped_column(String(16))

    @validates("name")
    def _fill_name_key(self, _attribute: str, name: str) -> str:
        self.name_key = normalize_name(name)
        return name


class Invite(Base):
    """A one-time code that binds a Telegram account to an inspector."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    inspector_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspectors.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
