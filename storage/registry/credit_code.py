"""Unified social credit codes (统一社会信用代码) as defined by GB 32100-2015.

A code has 18 characters from the digits and the capital letters except I, O, S, V
and Z, which gives 31 symbols with values 0-30 in the order of `ALPHABET`. The last
character is a check character over the first 17.
"""

import unicodedata

from griddispatch.errors import InvalidValue

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CODE_LENGTH = 18

_VALUES = {symbol: value for value, symbol in enumerate(ALPHABET)}
_MODULUS = len(ALPHABET)
# Position i (1-based) of the first 17 characters has weight 3^(i-1) mod 31.
_WEIGHTS = [pow(3, index, _MODULUS) for index in range(CODE_LENGTH - 1)]


def check_character(first17: str) -> str:
    """Compute the GB 32100 check character for the first 17 characters of a code.

    Raises InvalidValue, a ValidationError, unless `first17` is 17 characters of `ALPHABET`.
    """
    if len(first17) != CODE_LENGTH - 1:
        raise InvalidValue(
            "credit code prefix {prefix!r} is invalid: it has {length} characters, "
            "expected {expected}",
            prefix=first17,
            length=len(first17),
            expected=CODE_LENGTH - 1,
        )

    _require_alphabet(first17)
    weighted_sum = sum(
        _VALUES[symbol] * weight for symbol, weight in zip(first17, _WEIGHTS, strict=True)
    )
    return ALPHABET[(_MODULUS - weighted_sum % _MODULUS) % _MODULUS]


def validate_credit_code(code: str) -> str:
    """Normalize a credit code and return it, or raise InvalidValue saying what is wrong.

    InvalidValue is both a ValidationError and a ValueError, so a pydantic validator can
    call this without wrapping its errors.

    Normalizing removes all whitespace, turns full-width characters into ASCII (NFKC)
    and uppercases letters, so "91350100m000100y43" and "９１３５… Y43" are accepted.
    """
    normalized = _normalize(code)

    if len(normalized) != CODE_LENGTH:
        raise InvalidValue(
            'credit code "{code}" is invalid: it has {length} characters, '
            "expected {expected}; check the code against the business licence",
            code=normalized,
            length=len(normalized),
            expected=CODE_LENGTH,
        )

    _require_alphabet(normalized)

    expected = check_character(normalized[:-1])
    if normalized[-1] != expected:
        raise InvalidValue(
            'credit code "{code}" is invalid: check character should be {expected}; '
            "check the code against the business licence",
            code=normalized,
            expected=expected,
        )

    return normalized


def _normalize(code: str) -> str:
    compact = "".join(unicodedata.normalize("NFKC", code).split())
    return compact.upper()


def _require_alphabet(code: str) -> None:
    for position, symbol in enumerate(code, start=1):
        if symbol in _VALUES:
            continue

        if symbol in "IOSVZ":
            raise InvalidValue(
                'credit code "{code}" is invalid: letter {symbol} at position {position} is not '
                "allowed, because credit codes never use I, O, S, V or Z; check the code against "
                "the business licence",
                code=code,
                symbol=symbol,
                position=position,
            )

        raise InvalidValue(
            'credit code "{code}" is invalid: character {symbol!r} at position {position} is not '
            "allowed, because credit codes contain only digits and capital letters; check the "
            "code against the business licence",
            code=code,
            symbol=symbol,
            position=position,
        )
