"""`griddispatch up` as a user runs it: a child process, the CLI beside it, then Ctrl-C."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.local_mode import LOCAL_USER_BASE
from griddispatch.nats_server import free_port

STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
GRID = "150602001001"


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GRIDDISPATCH_") and key != "TELEGRAM_BOT_TOKEN"
    }
    environment.update(
        GRIDDISPATCH_DATA_DIR=str(tmp_path / "var"),
        GRIDDISPATCH_NATS_PORT=str(free_port()),
        GRIDDISPATCH_BOT_API_PORT=str(free_port()),
        GRIDDISPATCH_API_PORT=str(free_port()),
        GRIDDISPATCH_LOCALE="zh_CN",
    )
    return environment


def _griddispatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "dispatcher", *args]


def _wait_for_line(log_path: Path, fragment: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if fragment in log_path.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(
        f"`up` did not log {fragment!r}; its log:\n{log_path.read_text(errors='replace')[-3000:]}"
    )


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[tuple[dict[str, str], subprocess.Popen[bytes], Path]]:
    environment = _environment(tmp_path)
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _griddispatch("up"), env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_line(log_path, "griddispatch is up", process)
        yield environment, process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _run(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _griddispatch(*args),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_up_runs_loop_and_stops_on_ctrl_c(
    running_up: tuple[dict[str, str], subprocess.Popen[bytes], Path],
) -> None:
    environment, process, log_path = running_up

    sent = _run(
        environment,
        "directive",
        "send",
        "--grid",
        GRID,
        "--title",
        "春季专项检查",
        "--ack-within",
        "30m",
    )
    assert sent.returncode == 0, sent.stderr
    assert "已生成 4 个任务" in sent.stdout

    listed = _run(environment, "tasks", "--open")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("春季专项检查") == 4
    assert "待签收" in listed.stdout

    chat = _run(environment, "chat", "show", "JG0010")
    assert chat.returncode == 0, chat.stderr
    assert "春季专项检查" in chat.stdout
    assert "[签收] [无法执行]" in chat.stdout

    missing = _run(environment, "chat", "tap", "JG0010", "999999", "签收")
    assert missing.returncode != 0
    assert "JG0010 的对话中没有消息 999999" in missing.stderr
    assert "griddispatch chat show JG0010" in missing.stderr
    assert "Traceback" not in missing.stderr
    card_id = re.search(r"--- 消息 (\d+) \[签收\]", chat.stdout)
    assert card_id is not None, chat.stdout
    no_button = _run(environment, "chat", "tap", "JG0010", card_id.group(1), "提交结果")
    assert no_button.returncode != 0
    assert "没有按钮 '提交结果'；它的按钮有 [签收] [无法执行]" in no_button.stderr
    # The simulated Telegram user ids are internal, so no error shows one.
    assert str(LOCAL_USER_BASE)[:-3] not in missing.stderr + no_button.stderr

    api_url = f"http://127.0.0.1:{environment['GRIDDISPATCH_API_PORT']}/api/v1/healthz"
    with urllib.request.urlopen(api_url, timeout=10) as health:
        assert json.load(health) == {"status": "ok"}

    process.send_signal(signal.SIGINT)
    assert process.wait(STOP_TIMEOUT_S) == 0
    log = log_path.read_text(encoding="utf-8")
    assert "griddispatch stopped" in log
    assert "start-up objects frozen" in log
    assert "Traceback" not in log, log


# A 1x1 PNG image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _chat_until(environment: dict[str, str], inspector: str, text: str, count: int) -> str:
    """Return `chat show` once its output contains `text` at least `count` times."""
    deadline = time.monotonic() + 30
    while True:
        output = _run(environment, "chat", "show", inspector).stdout
        if output.count(text) >= count or time.monotonic() > deadline:
            return output
        time.sleep(0.5)


def test_chat_commands_act_as_inspector(
    running_up: tuple[dict[str, str], subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    environment, _, _ = running_up
    sent = _run(environment, "directive", "send", "--grid", GRID, "--title", "夏季巡查")
    assert sent.returncode == 0, sent.stderr
    assert _chat_until(environment, "JG0010", "夏季巡查", 1).count("夏季巡查") == 1

    sent_text = _run(environment, "chat", "say", "JG0010", "/tasks")
    photo_file = tmp_path / "site.png"
    photo_file.write_bytes(PNG)
    photo = _run(environment, "chat", "photo", "JG0010", str(photo_file), "--caption", "现场")
    located = _run(
        environment, "chat", "locate", "JG0010", "--longitude", "109.99", "--latitude", "39.81"
    )

    assert sent_text.returncode == 0, sent_text.stderr
    assert "已发送" in sent_text.stdout
    assert photo.returncode == 0, photo.stderr
    assert located.returncode == 0, located.stderr
    # The bot replies to /tasks with a list that names the task again.
    assert _chat_until(environment, "JG0010", "夏季巡查", 2).count("夏季巡查") >= 2


def test_chat_commands_reject_bad_input(
    running_up: tuple[dict[str, str], subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    environment, _, _ = running_up
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image", encoding="utf-8")

    missing = _run(environment, "chat", "photo", "JG0010", str(tmp_path / "missing.jpg"))
    not_image = _run(environment, "chat", "photo", "JG0010", str(text_file))
    far = _run(
        environment, "chat", "locate", "JG0010", "--longitude", "39.8", "--latitude", "109.9"
    )
    stranger = _run(environment, "chat", "say", "NOSUCH", "hello")

    for result, named in [
        (missing, "missing.jpg"),
        (not_image, "不是 JPEG 或 PNG 图片"),
        (far, "--latitude（-90 到 90）"),
        (stranger, "未找到监管员 'NOSUCH'"),
    ]:
        assert result.returncode != 0
        assert named in result.stderr
        assert "Traceback" not in result.stderr


def _start_up(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _griddispatch("up"), env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    _wait_for_line(log_path, "griddispatch is up", process)
    return process


def _stop_up(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(STOP_TIMEOUT_S) == 0


def test_bot_replies_right_after_restart(tmp_path: Path) -> None:
    """A restarted local Bot API server must not reuse update ids the bot has already stored."""
    environment = _environment(tmp_path)
    replies = []
    for run in (1, 2):
        process = _start_up(environment, tmp_path / f"up{run}.log")
        try:
            command = _run(environment, "chat", "say", "JG0010", "/tasks")
            assert command.returncode == 0, command.stderr
            replies.append(_chat_until(environment, "JG0010", "---", 1).count("---"))
        finally:
            _stop_up(process)

    assert replies == [1, 1]


def test_up_names_the_setting_when_nats_port_is_taken(tmp_path: Path) -> None:
    environment = _environment(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        environment["GRIDDISPATCH_NATS_PORT"] = str(taken.getsockname()[1])

        result = subprocess.run(
            _griddispatch("up"),
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert f"端口 {environment['GRIDDISPATCH_NATS_PORT']}" in result.stderr
    assert "GRIDDISPATCH_NATS_PORT" in result.stderr
