"""Which libraries a component process loads before it starts."""

import subprocess
import sys


def test_components_skip_unused_libraries() -> None:
    # What `griddispatch dispatcher`, `worker` and `api` import to start, in a fresh interpreter:
    # aiogram is for the bot, openpyxl for workbook imports and exports.
    unused = ("aiogram", "bots.app", "openpyxl")
    code = (
        "import sys\n"
        "import dispatcher.cli.runners, dispatcher.up, dispatcher.api.asyncapi\n"
        f"print(sorted(name for name in {unused!r} if name in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[]"
