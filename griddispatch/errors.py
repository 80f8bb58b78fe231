"""The exception tree of griddispatch.

Every error the project raises on purpose descends from `GridDispatchError`,
so a caller can catch the project's errors apart from library bugs. Each
message names the offending value and what to do about it.
"""


class GridDispatchError(Exception):
    """Raised when griddispatch rejects an operation; the root of all project errors."""


class ConfigurationError(GridDispatchError):
    """Raised when a setting is missing or invalid."""


class ValidationError(GridDispatchError):
    """Raised when input data (a message, a file row, a command argument) is invalid."""


class NotFoundError(GridDispatchError):
    """Raised when a referenced record (task, inspector, division, subject) does not exist."""


class IllegalTransitionError(GridDispatchError):
    """Raised when a task state change is not allowed from the task's current state."""


class PermissionDeniedError(GridDispatchError):
    """Raised when someone acts on a task they are not assigned to or do not lead."""


class InfrastructureError(GridDispatchError):
    """Raised when a service griddispatch depends on (NATS, database) cannot be used."""
