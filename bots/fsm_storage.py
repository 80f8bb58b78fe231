"""aiogram FSM storage on the database, through storage.telegram.drafts."""

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey

from storage.db import Database
from storage.telegram.drafts import load_draft, save_data, save_state


class DatabaseStorage(BaseStorage):
    """FSM storage that survives restarts of the bot."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._keys = DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._keys.build(key)

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        await save_state(self._db, self._key(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await load_draft(self._db, self._key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await save_data(self._db, self._key(key), dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await load_draft(self._db, self._key(key))
        return data

    async def close(self) -> None:
        """Nothing to close: the database belongs to the bot service."""
