"""Which libraries a component process loads before it starts."""

import subprocess
import sys


def test_non_bot_components_skip_aiogram() -> None:
    # What `griddispatch dispatcher`, `worker` and `api` import to start, in a fresh interpreter.
    code = (
        "import sys\n"
        "import dispatcher.cli.runners, dispatcher.up, dispatcher.api.asyncapi\n"
        "print(sorted(name for name in ('aiogram', 'bots.app') if name in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[]"
