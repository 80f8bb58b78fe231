"""The registry: divisions and grids, inspectors, and the subjects they supervise.

Clerks send registry files as CSV or XLSX, and `read_registry_file` validates them row
by row. `storage.registry.example` generates an invented example registry for Ordos.
"""

from storage.registry.credit_code import check_character, validate_credit_code
from storage.registry.files import ParsedFile, RegistryKind, RegistryRow, read_registry_file
from storage.registry.rows import (
    DivisionRow,
    Industry,
    InspectorRow,
    RowError,
    SubjectRow,
    load_industries,
    mask_phone,
)

__all__ = [
    "DivisionRow",
    "Industry",
    "InspectorRow",
    "ParsedFile",
    "RegistryKind",
    "RegistryRow",
    "RowError",
    "SubjectRow",
    "check_character",
    "load_industries",
    "mask_phone",
    "read_registry_file",
    "validate_credit_code",
]
