"""Parameters of a Bot API request, read from the query string and the body.

Telegram accepts parameters in the query string, as JSON, as
application/x-www-form-urlencoded and as multipart/form-data. aiogram 3.31's
AiohttpSession always POSTs form data: url-encoded when the request has no
file, multipart when it uploads one. It sends objects and lists as JSON
strings, numbers and booleans as their JSON text ("42", "true"), and refers
to an uploaded part as "attach://<part name>".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from bots.local_api.errors import BotApiError, bad_request

ATTACH_PREFIX = "attach://"

# Telegram accepts uploads of up to 50 MB from bots and returns 413 above that.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

_READ_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    content: bytes


@dataclass
class Params:
    """Request parameters: JSON values or form strings, plus uploaded file parts."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Tell whether the parameter was sent with a non-empty value."""
        value = self.values.get(name)
        return value is not None and value != ""

    def text(self, name: str) -> str | None:
        """Return the parameter as a string, or None when it is absent."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    def integer(self, name: str, invalid: str) -> int | None:
        """Return the parameter as an int; raise 400 `invalid` when it is not one."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise bad_request(invalid)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(invalid) from None

    def number(self, name: str, invalid: str) -> float | None:
        """Return the parameter as a float; raise 400 `invalid` when it is not a number."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise bad_request(invalid)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(invalid) from None

    def flag(self, name: str) -> bool:
        """Return the parameter as a bool; Telegram reads "true" and "1" as true."""
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in {"true", "1"}

    def json_value(self, name: str, invalid: str) -> Any:
        """Return the decoded JSON parameter; raise 400 `invalid` when it does not decode."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(invalid) from None

    def input_file(self, name: str) -> UploadedFile | str | None:
        """Return the file sent as `name`: an uploaded part, or a file_id or URL string.

        aiogram names the part at random and passes "attach://<part>" as the
        value; other clients name the part after the parameter itself.
        """
        if name in self.files:
            return self.files[name]

        value = self.text(name)
        if value is None or value == "":
            return None

        if value.startswith(ATTACH_PREFIX):
            part = value.removeprefix(ATTACH_PREFIX)
            return self.files.get(part)

        return value


async def read_params(request: web.Request) -> Params:
    """Read the parameters of a Bot API request; body values override the query string."""
    params = Params(values=dict(request.query))

    if request.method != "POST" or not request.body_exists:
        return params

    if request.content_type == "application/json":
        await _read_json_body(request, params)
    elif request.content_type == "multipart/form-data":
        _check_declared_length(request)
        await read_multipart(await request.multipart(), params)
    elif request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.values.update({key: str(value) for key, value in form.items()})

    return params


async def _read_json_body(request: web.Request, params: Params) -> None:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise bad_request("can't parse JSON object") from None

    if not isinstance(body, dict):
        raise bad_request("JSON object expected in the request body")

    params.values.update(body)


def _check_declared_length(request: web.Request) -> None:
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise _too_large()


def _too_large() -> BotApiError:
    return BotApiError(413, "Request Entity Too Large")


async def read_multipart(reader: MultipartReader, params: Params) -> None:
    """Read every part of a multipart body into `params`; raise 413 past 50 MB."""
    budget = MAX_UPLOAD_BYTES

    while True:
        part = await reader.next()
        if part is None:
            return

        if not isinstance(part, BodyPartReader) or part.name is None:
            continue

        content = await _read_part_content(part, budget)
        budget -= len(content)
        _store_part(part, content, params)


async def _read_part_content(part: BodyPartReader, budget: int) -> bytes:
    chunks: list[bytes] = []
    size = 0

    while chunk := await part.read_chunk(_READ_CHUNK_BYTES):
        size += len(chunk)
        if size > budget:
            raise _too_large()
        chunks.append(chunk)

    return b"".join(chunks)


def _store_part(part: BodyPartReader, content: bytes, params: Params) -> None:
    name = part.name or ""

    if part.filename is None:
        params.values[name] = content.decode(part.get_charset("utf-8"))
        return

    content_type = part.headers.get("Content-Type", "application/octet-stream")
    params.files[name] = UploadedFile(
        filename=part.filename,
        content_type=content_type,
        content=content,
    )
