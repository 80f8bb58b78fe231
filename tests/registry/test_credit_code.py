import pytest

from griddispatch.errors import ValidationError
from storage.registry.credit_code import ALPHABET, check_character, validate_credit_code

VALID_CODE = "91350100M000100Y43"


def test_valid_code_is_returned() -> None:
    assert validate_credit_code(VALID_CODE) == VALID_CODE


def test_spaces_and_case_are_normalized() -> None:
    assert validate_credit_code(" 9135 0100 m000 100y43 ") == VALID_CODE


def test_full_width_characters_are_normalized() -> None:
    assert validate_credit_code("９１３５０１００Ｍ０００１００Ｙ４３") == VALID_CODE


def test_wrong_check_character_message() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credit_code("91350100M000100Y44")

    assert str(caught.value) == (
        'credit code "91350100M000100Y44" is invalid: check character should be 3; '
        "check the code against the business licence"
    )


def test_letter_i_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credit_code("91350100I000100Y43")

    message = str(caught.value)
    assert message.startswith('credit code "91350100I000100Y43" is invalid: letter I at position 9')
    assert "never use I, O, S, V or Z" in message


@pytest.mark.parametrize("letter", ["O", "S", "V", "Z"])
def test_other_unused_letters_are_rejected(letter: str) -> None:
    with pytest.raises(ValidationError, match=f"letter {letter} at position 9"):
        validate_credit_code(f"91350100{letter}000100Y43")


def test_punctuation_is_rejected() -> None:
    with pytest.raises(ValidationError, match="character '-' at position 9 is not allowed"):
        validate_credit_code("91350100-000100Y43")


@pytest.mark.parametrize(
    ("code", "length"),
    [("91350100M000100Y4", 17), ("91350100M000100Y433", 19), ("", 0)],
)
def test_wrong_length_message(code: str, length: int) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credit_code(code)

    assert f'credit code "{code}" is invalid: it has {length} characters, expected 18' in str(
        caught.value
    )


def test_check_character_of_example() -> None:
    assert check_character(VALID_CODE[:17]) == "3"


def test_check_character_zero_remainder() -> None:
    # A weighted sum divisible by 31 gives check value (31 - 0) mod 31 = 0.
    assert check_character("0" * 17) == "0"


def test_check_character_round_trip() -> None:
    for symbol in ALPHABET:
        code = f"9215062{symbol}MA0000001" + check_character(f"9215062{symbol}MA0000001")
        assert validate_credit_code(code) == code


def test_check_character_rejects_short_prefix() -> None:
    with pytest.raises(ValidationError, match="has 16 characters, expected 17"):
        check_character("9135010M000100Y4")


def test_alphabet_has_31_symbols() -> None:
    assert len(ALPHABET) == 31
    assert not set("IOSVZ") & set(ALPHABET)
