"""Money: a currency symbol or ISO code before or after the amount. "$5.50" -> "five dollars
fifty cents", "$.01" -> "one cent", "$30b" -> "thirty billion dollars", "£2.5m" -> "two point
five million pounds", "¥30 billion" -> "thirty billion yen", "EUR 20" -> "twenty euros",
"$10-20" -> "ten to twenty dollars", "99p" -> "ninety nine pence", "5s. 6d." -> "five shillings
six pence" ("$5/kg": measures.py reads "/kg").

The names are the spoken ones; num2words' currency forms are formal ("pounds sterling") and
it has none for yen, won or yuan, so the common currencies are listed here.
"""

from __future__ import annotations

import re

from mtts.text.normalize.core import Rule, Text, numbers
from mtts.text.normalize.numbers import NUM, cardinal, number

# code: singular, plural, minor unit singular and plural (None: amounts are read as decimals)
CURRENCIES = {
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", None, None),
    "CNY": ("yuan", "yuan", None, None),
    "KRW": ("won", "won", None, None),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "RUB": ("ruble", "rubles", "kopek", "kopeks"),
    "AUD": ("australian dollar", "australian dollars", "cent", "cents"),
    "CAD": ("canadian dollar", "canadian dollars", "cent", "cents"),
    "NZD": ("new zealand dollar", "new zealand dollars", "cent", "cents"),
    "HKD": ("hong kong dollar", "hong kong dollars", "cent", "cents"),
    "SGD": ("singapore dollar", "singapore dollars", "cent", "cents"),
    "CHF": ("swiss franc", "swiss francs", "centime", "centimes"),
    "MXN": ("mexican peso", "mexican pesos", "centavo", "centavos"),
    "BRL": ("real", "reais", "centavo", "centavos"),
    "ZAR": ("rand", "rand", "cent", "cents"),
    "SEK": ("swedish krona", "swedish kronor", None, None),
    "NOK": ("norwegian krone", "norwegian kroner", None, None),
    "DKK": ("danish krone", "danish kroner", None, None),
    "PLN": ("zloty", "zlotys", None, None),
    "TRY": ("turkish lira", "turkish lira", None, None),
    "ILS": ("shekel", "shekels", None, None),
    "THB": ("baht", "baht", None, None),
    "PHP": ("philippine peso", "philippine pesos", None, None),
    "NGN": ("naira", "naira", None, None),
    "VND": ("dong", "dong", None, None),
    "BTC": ("bitcoin", "bitcoins", None, None),
    "USD¢": ("cent", "cents", None, None),   # "50¢"
}
SYMBOLS = {"$": "USD", "US$": "USD", "A$": "AUD", "AU$": "AUD", "C$": "CAD", "CA$": "CAD", "NZ$": "NZD",
           "HK$": "HKD", "S$": "SGD", "R$": "BRL", "£": "GBP", "€": "EUR", "¥": "JPY", "CN¥": "CNY",
           "RMB": "CNY", "₩": "KRW", "₹": "INR", "Rs.": "INR", "Rs": "INR", "₽": "RUB", "₺": "TRY",
           "₪": "ILS", "฿": "THB", "₱": "PHP", "₦": "NGN", "₫": "VND", "₿": "BTC", "¢": "USD¢"}
_SCALE_WORDS = {"k": "thousand", "thousand": "thousand", "m": "million", "mn": "million", "mln": "million",
                "million": "million", "b": "billion", "bn": "billion", "bln": "billion", "billion": "billion",
                "t": "trillion", "tn": "trillion", "trn": "trillion", "trillion": "trillion"}


def _alternation(keys) -> str:
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


_SYM = _alternation(SYMBOLS)
_CODE = _alternation(k for k in CURRENCIES if k.isalpha())
_SCALE = r"(?:[Tt]housand|[Mm]illion|[Bb]illion|[Tt]rillion|[MmBb]ln|[Tt]rn|[MmBbTt]n|[kKmMbBtT])(?![A-Za-z])"
_AMOUNT = (rf"(?P<a>{NUM})(?: ?(?:-|–|to) ?(?P<sym2>{_SYM})?(?P<b>{NUM}))?(?:(?P<sep> |-)?(?P<scale>{_SCALE}))?")
# symbol or code first: "$5", "-$5", "US$ 30", "USD 100", "Rs. 500"
_BEFORE = re.compile(rf"(?<![0-9A-Za-z])(?P<neg>-)?(?:(?P<sym>{_SYM})|(?P<code>{_CODE})) ?{_AMOUNT}(?![0-9])")
# amount first: "5$", "5 €", "100 USD", "5,50 €" (a decimal comma before a symbol)
_AFTER = re.compile(rf"(?<![0-9A-Za-z.,])(?P<neg>-)?(?:(?P<eu>[0-9]+,[0-9]{{2}})|{_AMOUNT}) ?"
                    rf"(?:(?P<sym>{_SYM})|(?P<code>{_CODE})(?![A-Za-z]))")


def amount(s: str, code: str) -> str:
    """"5.50" in dollars -> "five dollars fifty cents"; a currency without minor units, or
    more than two decimals, reads the amount as a decimal: "three point five yen"."""
    one, many, minor_one, minor_many = CURRENCIES[code]
    whole, _, frac = s.replace(",", "").partition(".")
    if frac and (len(frac) > 2 or minor_one is None):
        return f"{number(s)} {many}"
    w = int(whole or 0)
    minor = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if w or not minor:
        parts.append(f"{cardinal(w)} {one if w == 1 else many}")
    if minor:
        parts.append(f"{cardinal(minor)} {minor_one if minor == 1 else minor_many}")
    return " ".join(parts)


def _read(m: re.Match, t: Text) -> str:
    sym, code = m.group("sym"), m.group("code")
    code = SYMBOLS[sym] if sym else code
    sign = "minus " if m.group("neg") else ""
    if m.groupdict().get("eu"):
        return sign + amount(m.group("eu").replace(",", "."), code)
    a, b, scale = m.group("a"), m.group("b"), m.group("scale")
    many = CURRENCIES[code][1]
    if scale:
        head = f"{number(a)} to " if b else ""
        # hyphened, the amount describes a noun: "a $5-million deal", "five million dollar deal"
        unit = CURRENCIES[code][0] if m.group("sep") == "-" else many
        return f"{sign}{head}{number(b or a)} {_SCALE_WORDS[scale.lower()]} {unit}"
    if b:
        # "$10-$15": each amount is said with its currency
        head = amount(a, code) if m.group("sym2") else number(a)
        return f"{sign}{head} to {amount(b, code)}"
    return sign + amount(a, code)


_FIRST_BEFORE = re.compile(r"[$£€¥₩₹₽₺₪฿₱₦₫₿]|-(?=[A-Z$£€¥₩₹₽])|[A-Z][A-Za-z]{0,2}(?:[$¥]|\.? ?[0-9.])")
BEFORE = Rule("MONEY", _BEFORE, _read, "digit", _FIRST_BEFORE)
AFTER = Rule("MONEY", _AFTER, _read, "digit", numbers(r" ?[^\s0-9,.;:!?)\]\"'-]", "-."))


# ---- pence: "50p", "1p" (not "1080p", a video resolution)
_PENCE = re.compile(r"(?<![0-9A-Za-z.,$£€-])([0-9]{1,2})p(?![A-Za-z0-9])")


def _pence(m: re.Match, t: Text) -> str:
    n = int(m.group(1))
    return f"{cardinal(n)} {'penny' if n == 1 else 'pence'}"


PENCE = Rule("MONEY", _PENCE, _pence, "digit", numbers("p"))


# ---- old British money: "5s. 6d." -> "five shillings six pence", "£3 10s." -> "... ten shillings";
# shillings alone only after pounds, since "the 40s" are a decade
_SHILLINGS = re.compile(r"(?<![0-9A-Za-z.,])(?P<s>[0-9]{1,2})s(?:\.? (?P<d>[0-9]{1,2})d)?\.?(?![A-Za-z0-9])")
_POUNDS_BEFORE = re.compile(r"£[0-9,]+ $")


def _shillings(m: re.Match, t: Text) -> str | None:
    if not m.group("d") and not _POUNDS_BEFORE.search(t.s, max(0, m.start() - 12), m.start()):
        return None
    n = int(m.group("s"))
    out = f"{cardinal(n)} {'shilling' if n == 1 else 'shillings'}"
    if m.group("d"):
        d = int(m.group("d"))
        out += f" {cardinal(d)} {'penny' if d == 1 else 'pence'}"
    return out


SHILLINGS = Rule("MONEY", _SHILLINGS, _shillings, "digit", numbers("s"))
