"""Hypothesis strategies for malformed and hostile NATS messages.

Each strategy draws a `Hostile` message: a body, headers, and whether the
message is certainly invalid (it must be dead-lettered) or may happen to be
valid (it must be either accepted or dead-lettered, and never left pending).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# Large enough to pass every schema limit many times over, small enough for NATS's
# default 1 MB max_payload: 200,000 characters of 4 bytes in UTF-8 are 800 KB.
HUGE_MIN = 3_001
HUGE_MAX = 200_000

# Characters that every layer should carry: combining marks, bidirectional controls,
# zero-width characters, full-width forms, emoji, private use. Lone surrogates and
# NUL are left out here, because the tests name those cases on their own.
EDGE_CHARACTERS = (
    "\u0301\u200b\u200d\u202e\u2066\ufeff\uff21\u3000\U0001f600\U000e0001\ue000"
    "\ufffd\u0085\u2028\u2029\t\r\n'\"\\<>&%${}"
)


@dataclass(frozen=True)
class Hostile:
    """A message to publish: its body, headers, and whether it must be dead-lettered."""

    kind: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    certainly_invalid: bool = True


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


edge_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(EDGE_CHARACTERS),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    ),
    min_size=1,
    max_size=300,
)

# Text with NUL characters, which PostgreSQL cannot store in a text column.
nul_text = st.lists(st.sampled_from(["\x00", "a", "字", " "]), min_size=1, max_size=50).map(
    lambda parts: "".join(parts) + "\x00"
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    edge_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)
# A value of another JSON type than a string, for fields that take a string.
not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
)


def random_bytes() -> st.SearchStrategy[Hostile]:
    """Bytes that are not JSON, or not UTF-8 at all."""
    return (
        st.binary(min_size=0, max_size=2000)
        .filter(_not_json_object)
        .map(lambda body: Hostile("random bytes", body))
    )


def _not_json_object(body: bytes) -> bool:
    try:
        return not isinstance(json.loads(body), dict)
    except ValueError:
        return True


def not_objects() -> st.SearchStrategy[Hostile]:
    """JSON documents that are not objects: arrays, strings, numbers, null."""
    return json_values.filter(lambda value: not isinstance(value, dict)).map(
        lambda value: Hostile("not an object", _json(value))
    )


def wrong_types(valid: dict[str, Any], string_fields: list[str]) -> st.SearchStrategy[Hostile]:
    """A valid message with one string field replaced by a number, list, object or null.

    Null is valid for an optional field, so a message with null is not certainly invalid.
    """
    return st.tuples(st.sampled_from(string_fields), not_strings).map(
        lambda pair: Hostile(
            "wrong type",
            _json({**valid, pair[0]: pair[1]}),
            certainly_invalid=pair[1] is not None,
        )
    )


def huge_strings(valid: dict[str, Any], text_fields: list[str]) -> st.SearchStrategy[Hostile]:
    """A valid message with one text field far over its maximum length."""
    return st.tuples(
        st.sampled_from(text_fields),
        st.integers(min_value=HUGE_MIN, max_value=HUGE_MAX),
        st.sampled_from(["字", "a", "\U0001f600", "\u0301"]),
    ).map(lambda drawn: Hostile("huge string", _json({**valid, drawn[0]: drawn[2] * drawn[1]})))


def edge_unicode(valid: dict[str, Any], text_fields: list[str]) -> st.SearchStrategy[Hostile]:
    """A message whose text fields hold unicode edge cases; it may well be valid."""
    return st.tuples(st.sampled_from(text_fields), edge_text).map(
        lambda pair: Hostile(
            "unicode edge case", _json({**valid, pair[0]: pair[1]}), certainly_invalid=False
        )
    )


def missing_fields(valid: dict[str, Any], required: list[str]) -> st.SearchStrategy[Hostile]:
    """A valid message without at least one of its required fields."""
    return st.sets(st.sampled_from(required), min_size=1).map(
        lambda dropped: Hostile(
            "missing fields",
            _json({key: value for key, value in valid.items() if key not in dropped}),
        )
    )


def unknown_fields(valid: dict[str, Any]) -> st.SearchStrategy[Hostile]:
    """A valid message with a field the schema does not have."""
    return st.tuples(
        st.text(min_size=1, max_size=20).filter(lambda key: key not in valid), json_values
    ).map(lambda pair: Hostile("unknown field", _json({**valid, pair[0]: pair[1]})))


# Header names are RFC 7230 tokens, which nats-py checks before it sends.
header_names = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=30,
).filter(lambda name: not name.lower().startswith("nats-"))
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=200
)


def wrong_headers(valid: dict[str, Any]) -> st.SearchStrategy[Hostile]:
    """A valid body with strange headers; it may be valid, since headers are optional."""
    return st.dictionaries(header_names, header_values, min_size=1, max_size=5).map(
        lambda headers: Hostile(
            "wrong headers", _json(valid), headers=headers, certainly_invalid=False
        )
    )


def nul_characters(valid: dict[str, Any], text_fields: list[str]) -> st.SearchStrategy[Hostile]:
    """A message with NUL characters in one text field; it may be valid."""
    return st.tuples(st.sampled_from(text_fields), nul_text).map(
        lambda pair: Hostile(
            "NUL characters", _json({**valid, pair[0]: pair[1]}), certainly_invalid=False
        )
    )


def hostile_messages(
    valid: Callable[[], dict[str, Any]],
    *,
    required: list[str],
    string_fields: list[str],
    text_fields: list[str],
    with_nul: bool = False,
) -> st.SearchStrategy[Hostile]:
    """Every kind of hostile message built around the valid message `valid()` returns.

    `with_nul` adds text fields holding NUL characters.
    """
    example = valid()
    extra = [nul_characters(example, text_fields)] if with_nul else []
    return st.one_of(
        *extra,
        random_bytes(),
        not_objects(),
        wrong_types(example, string_fields),
        huge_strings(example, text_fields),
        edge_unicode(example, text_fields),
        missing_fields(example, required),
        unknown_fields(example),
        wrong_headers(example),
    )
