"""Property tests: any Unicode text either becomes valid token ids, one entry per
utterance, or raises the project's own error; the normaliser never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from mtts.text.normalize import normalize
from mtts.text.phonemize import Phonemizer
from mtts.text.tokens import BASE_SYMBOLS, TokenTable

from conftest import requires_espeak

TOKENS = TokenTable.build([], BASE_SYMBOLS)
PHONEMIZER = None

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
wordy = st.lists(st.sampled_from(["Dr.", "$3.50.", "1990s", "3rd", "12:30", "%", "&", "St.", "£5",
                                  "naïve", "😀", "\u0007", "1,000,000", "A.", "!!", "hello", "x"]),
                 max_size=12).map(" ".join)


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalize_never_crashes_and_is_idempotent_on_its_output(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert "  " not in out and out == out.strip()
    assert not any(c.isdigit() for c in out if c.isascii())  # every ASCII digit was spelled out
    assert normalize(out) == out


@requires_espeak
@given(st.lists(st.one_of(texts, wordy), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_tokenizes_to_valid_ids_one_per_utterance(batch):
    global PHONEMIZER
    PHONEMIZER = PHONEMIZER or Phonemizer()
    phones = PHONEMIZER([normalize(t) for t in batch])
    assert len(phones) == len(batch)
    for p in phones:
        ids = TOKENS.encode(p)
        assert all(0 < i < len(TOKENS) for i in ids)
