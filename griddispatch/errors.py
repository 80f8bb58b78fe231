"""The exception tree of griddispatch.

Every error the project raises on purpose descends from `GridDispatchError`,
so a caller can catch the project's errors apart from library bugs. Each
message names the offending value and what to do about it.

A message is an English template with `{name}` placeholders and the values
as keyword arguments, so the message extractor collects the template and
`localized` shows it in the reader's language. `str(error)` is the English
text, the one logs carry.
"""

from collections.abc import Iterable
from typing import Any

from griddispatch.i18n import DEFAULT_LOCALE, gettext, translate_value


class GridDispatchError(Exception):
    """Raised when griddispatch rejects an operation; the root of all project errors."""

    def __init__(self, message: str = "", /, **values: Any) -> None:
        super().__init__(message.format(**values) if values else message)
        self.template = message
        self.values = values

    def localized(self, locale: str) -> str:
        """Return the message in `locale`, or in English if the catalog lacks its template.

        Values that are phrases marked for the catalog, or project errors themselves,
        are translated too.
        """
        values = {name: _localized_value(value, locale) for name, value in self.values.items()}
        return gettext(self.template, locale, **values)


def _localized_value(value: Any, locale: str) -> Any:
    if isinstance(value, GridDispatchError):
        return value.localized(locale)
    return translate_value(value, locale)


class ErrorList(GridDispatchError):
    """Several errors reported as one, such as every problem of one row or request.

    The English text joins the messages with "; ", and a Chinese text with "；".
    """

    def __init__(self, errors: Iterable[GridDispatchError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))

    def localized(self, locale: str) -> str:
        """Return every message in `locale`, joined by that language's separator."""
        separator = "；" if locale == DEFAULT_LOCALE else "; "
        return separator.join(error.localized(locale) for error in self.errors)


class ConfigurationError(GridDispatchError):
    """Raised when a setting is missing or invalid."""


class ValidationError(GridDispatchError):
    """Raised when input data (a message, a file row, a command argument) is invalid."""


class InvalidValue(ValidationError, ValueError):
    """Raised by a pydantic validator for an invalid value.

    Pydantic turns a ValueError raised in a validator into a "value_error" entry and
    keeps the exception itself in the entry's `ctx["error"]`, so code that reads the
    validation error gets the template and its values.
    """


class NotFoundError(GridDispatchError):
    """Raised when a referenced record (task, inspector, division, subject) does not exist."""


class IllegalTransitionError(GridDispatchError):
    """Raised when a task state change is not allowed from the task's current state."""


class PermissionDeniedError(GridDispatchError):
    """Raised when someone acts on a task they are not assigned to or do not lead."""


class InfrastructureError(GridDispatchError):
    """Raised when a service griddispatch depends on (NATS, database) cannot be used."""


def localized(error: BaseException, locale: str) -> str:
    """Return a project error's message in `locale`, or another exception's own text."""
    if isinstance(error, GridDispatchError):
        return error.localized(locale)
    return str(error)
