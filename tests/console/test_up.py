"""`griddispatch up` prints the console's address and a first admin; `users create` adds users."""

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from tests.cli.test_up import STOP_TIMEOUT_S, _run, _wait_for_line, running_up

__all__ = ["running_up"]

ADMIN_LINE = re.compile(r"console user: admin  password: (\S+)")
COUNTY = "150602"


def _sign_in(console: str, username: str, password: str) -> dict[str, object]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    request = urllib.request.Request(
        f"{console}api/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with opener.open(request, timeout=10) as response:
        signed: dict[str, object] = json.load(response)
    with opener.open(f"{console}api/me", timeout=10) as response:
        assert json.load(response)["username"] == username
    return signed


def test_up_creates_admin_and_users_sign_in(
    running_up: tuple[dict[str, str], subprocess.Popen[bytes], Path],
) -> None:
    environment, process, log_path = running_up
    _wait_for_line(log_path, "console user: admin", process)
    log = log_path.read_text(encoding="utf-8")
    console = f"http://127.0.0.1:{environment['GRIDDISPATCH_API_PORT']}/console/"
    assert f"console: {console}" in log
    match = ADMIN_LINE.search(log)
    assert match is not None

    assert _sign_in(console, "admin", match.group(1))["role"] == "admin"

    created = _run(
        environment, "users", "create", "dongsheng", "--role", "county", "--county", COUNTY
    )
    assert created.returncode == 0, created.stderr
    password = created.stdout.strip().splitlines()[-1]
    assert _sign_in(console, "dongsheng", password)["county"] == COUNTY

    refused = _run(environment, "users", "create", "nowhere", "--role", "county")
    assert refused.returncode == 1
    assert "--county" in refused.stderr
    try:
        _sign_in(console, "dongsheng", "wrong-password")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    else:
        raise AssertionError("a wrong password signed in")

    process.send_signal(signal.SIGINT)
    assert process.wait(STOP_TIMEOUT_S) == 0
    stopped = log_path.read_text(encoding="utf-8")
    assert "Traceback" not in stopped
    assert match.group(1) not in stopped.replace(match.group(0), "")
