import pytest

from mtts.text.normalize import normalize


@pytest.mark.parametrize("text,expected", [
    ("I have 3 cats.", "I have three cats."),
    ("1,234 people", "one thousand two hundred thirty four people"),
    ("pi is 3.14", "pi is three point one four"),
    ("the 3rd and 21st", "the third and twenty first"),
    ("in 1864", "in eighteen sixty four"),
    ("in 2005", "in two thousand five"),
    ("the 1990s", "the nineteen nineties"),
    ("at 3:30 pm", "at three thirty p m"),
    ("at 7:05", "at seven oh five"),
    ("on 12/25/2020", "on december twenty fifth twenty twenty"),
    ("Dr. Smith paid $3.50.", "doctor Smith paid three dollars fifty cents."),
    ("$1", "one dollar"),
    ("£2.01", "two pounds one penny"),
    ("$5 million", "five million dollars"),
    ("20% off", "twenty percent off"),
    ("5 km away", "five kilometers away"),
    ("10 kg", "ten kilograms"),
    ("Mr. and Mrs. Jones", "mister and missus Jones"),
    ("St. Paul lives on Baker St.", "Saint Paul lives on Baker Street"),
    ("salt & pepper", "salt and pepper"),
    ("  spaced   out  ", "spaced out"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_normalize_drops_control_and_emoji_keeps_letters():
    assert normalize("caf\u00e9\u0007 \U0001F600 ok") == "caf\u00e9 ok"


def test_normalize_empty():
    assert normalize("   ") == ""
