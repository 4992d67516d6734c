"""Stage `tokenize`: normalise text and phonemize it.

Reads  DATA/<set>/text for each set
Writes DATA/<set>/{norm_text,phones}, DUMP/tokens.txt (phonemes, from train),
       DUMP/chars.txt (characters of lower-cased normalised text, with <bos>/<eos>),
       DUMP/phonemize_cache.json,
       DUMP/lexicon/{train,dev}.tsv with --lexicon-words N (cmudict words for G2P)

With --lexicon FILE (a user lexicon, mtts.text.lexicon) its words are pronounced as it says;
its entries are saved in DUMP/text_config.json, which training copies into every checkpoint
and package, so synthesis pronounces them the same way.
"""

from __future__ import annotations

from pathlib import Path

from mtts.data.datadir import read_table, validate_datadir, write_table
from mtts.errors import MttsError
from mtts.io import read_json, write_json
from mtts.text.lexicon import read_lexicon
from mtts.text.normalize import get_normalizer
from mtts.text.phonemize import Phonemizer
from mtts.text.tokens import BASE_CHARS, BASE_SYMBOLS, TokenTable

SETS = ("train", "dev", "test")


def text_to_phones(texts: list[str], phonemizer: Phonemizer,
                   normalizer: str = "builtin") -> tuple[list[str], list[str]]:
    norm_fn = get_normalizer(normalizer)
    norm = [norm_fn(t) for t in texts]
    return norm, phonemizer(norm)


def text_config(dump_dir: Path) -> dict:
    """Front-end settings saved by tokenize and copied into checkpoints."""
    path = dump_dir / "text_config.json"
    return read_json(path) if path.is_file() else {"normalizer": "builtin"}


def tokenize(data_dir: Path, dump_dir: Path, normalizer: str = "builtin", lexicon_words: int = 0,
             lexicon: Path | None = None) -> dict[str, int]:
    get_normalizer(normalizer)  # fail early on an unknown name
    user_lex = read_lexicon(lexicon) if lexicon is not None else {}
    # the phonemizer cache is keyed by normalised text, so it is shared by both normalisers
    # (it holds espeak's output only: the user lexicon is applied on top)
    phonemizer = Phonemizer(cache_path=dump_dir / "phonemize_cache.json", lexicon=user_lex)
    sets = [s for s in SETS if (data_dir / s / "text").is_file()]
    if "train" not in sets:
        raise MttsError(f"{data_dir / 'train' / 'text'} does not exist: run `mtts prepare` first")
    for s in sets:   # a data dir of prepare's (hand-made ones may hold only text): checked before any work
        if (data_dir / s / "wav.scp").is_file():
            validate_datadir(data_dir / s)
    phones_by_set, norm_by_set = {}, {}
    for s in sets:
        text = read_table(data_dir / s / "text")
        ids = sorted(text)
        norm, phones = text_to_phones([text[i] for i in ids], phonemizer, normalizer)
        bad = [i for i, p in zip(ids, phones) if not any(c.isalpha() for c in p)]
        if bad:
            raise MttsError(f"{data_dir / s / 'text'}: no pronounceable words in "
                            f"{', '.join(bad[:5])}; fix or remove those utterances")
        phones_by_set[s] = dict(zip(ids, phones))
        norm_by_set[s] = dict(zip(ids, norm))
    # the lexicon's phonemes are in the table even when no training sentence uses them
    lex_symbols = {c for ipa in user_lex.values() for c in ipa}
    tokens = TokenTable.build(list(phones_by_set["train"].values()), BASE_SYMBOLS | lex_symbols, boundaries=True)
    # with the boundaries too: a character-input model reads every utterance between them
    chars = TokenTable.build([t.lower() for t in norm_by_set["train"].values()], BASE_CHARS, boundaries=True)
    for s in sets:
        write_table(data_dir / s / "norm_text", norm_by_set[s])
        write_table(data_dir / s / "phones", phones_by_set[s])
    tokens.save(dump_dir / "tokens.txt")
    text_cfg = {"normalizer": normalizer, "language": phonemizer.language}
    if user_lex:
        text_cfg["lexicon"] = dict(sorted(user_lex.items()))
    write_json(dump_dir / "text_config.json", text_cfg)
    chars.save(dump_dir / "chars.txt")
    lex = {}
    if lexicon_words > 0:
        from mtts.data.lexicon import build_lexicon
        held_out = {w for s in ("dev", "test") for t in norm_by_set.get(s, {}).values()
                    for w in "".join(c if c.isalpha() else " " for c in t.lower()).split()}
        lex = build_lexicon(dump_dir, lexicon_words, phonemizer, tokens, chars, held_out)
    lex.update({"user_lexicon_words": len(user_lex)} if user_lex else {})
    return {**lex, "phoneme_tokens": len(tokens), "char_tokens": len(chars),
            **{s: len(phones_by_set[s]) for s in sets}, "espeak_calls": phonemizer.calls}
