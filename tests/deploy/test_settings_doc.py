"""docs/settings.md lists every setting as griddispatch/settings.py defines it."""

from griddispatch.settings import Settings
from tests.deploy.settings_doc import PAGE, USED_BY, env_name, missing_from_used_by, render


def test_every_setting_names_its_processes() -> None:
    assert missing_from_used_by() == [], (
        "add the settings to USED_BY in tests/deploy/settings_doc.py, then run "
        "`.venv/bin/python -m tests.deploy.settings_doc --write`"
    )


def test_used_by_names_only_real_settings() -> None:
    assert sorted(set(USED_BY) - set(Settings.model_fields)) == []


def test_settings_page_matches_the_code() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date; run `.venv/bin/python -m tests.deploy.settings_doc "
        "--write`"
    )


def test_settings_page_lists_every_variable() -> None:
    page = PAGE.read_text(encoding="utf-8")

    for name, field in Settings.model_fields.items():
        assert f"| `{env_name(name, field)}` |" in page, name
