"""Reference data shipped inside the package: divisions, boundaries, industries, example registry.

`SOURCES.md` in this folder names the source of each file.
"""

from pathlib import Path

from griddispatch.errors import ValidationError

_DATA_DIR = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    """Return the path of `parts` joined below the package data folder.

    The path need not exist, so it can also name a file to be written. Raises
    ValidationError when the parts lead outside the data folder (for example "..").
    """
    path = _DATA_DIR.joinpath(*parts).resolve()

    if not path.is_relative_to(_DATA_DIR):
        raise ValidationError(
            "data path {path!r} is invalid: it leads outside {data_dir}; "
            "pass a path relative to the package data folder",
            path="/".join(parts),
            data_dir=_DATA_DIR,
        )

    return path
