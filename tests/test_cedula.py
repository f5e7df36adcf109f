import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.cedula import InvalidCedula, clean_cedula


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1.020.304.050", "1020304050"),
        ("1 020 304 050", "1020304050"),
        ("1-020-304-050", "1020304050"),
        ("  79.845.123 ", "79845123"),
        ("123", "123"),
        ("1,020,304,050", "1020304050"),
    ],
)
def test_typed_forms_normalise_to_digits(typed, expected):
    assert clean_cedula(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "Escribe"),
        ("   ", "Escribe"),
        ("12", "entre 3 y 10"),
        ("12345678901", "entre 3 y 10"),
        ("0123456", "empezar por 0"),
        ("0", "entre 3 y 10"),
        ("-123456", None),  # a minus is a separator people type: still a plausible number
        ("١٢٣٤٥٦", "solo puede tener números"),
        ("12a45678", "solo puede tener números"),
        ("<script>1</script>", "solo puede tener números"),
        ("1234\x005678", "solo puede tener números"),
    ],
)
def test_implausible_input_gets_a_reason(typed, reason):
    if reason is None:
        assert clean_cedula(typed) == "123456"
        return
    with pytest.raises(InvalidCedula, match=reason):
        clean_cedula(typed)


@given(st.text())
def test_any_text_gives_a_cedula_or_a_user_message(text):
    try:
        digits = clean_cedula(text)
    except InvalidCedula as exc:
        assert str(exc)
    else:
        assert digits.isascii() and digits.isdigit()
        assert 3 <= len(digits) <= 10 and digits[0] != "0"


@given(st.integers(min_value=100, max_value=9_999_999_999), st.sampled_from([".", " ", "-", ""]))
def test_grouped_numbers_round_trip(number, sep):
    text = f"{number:,}".replace(",", sep)
    assert clean_cedula(text) == str(number)
