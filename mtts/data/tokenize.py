"""Stage `tokenize`: normalise text and phonemize it.

Reads  DATA/<set>/text for each set
Writes DATA/<set>/{norm_text,phones}, DUMP/tokens.txt (phonemes, from train),
       DUMP/chars.txt (characters of lower-cased normalised text, with <bos>/<eos>),
       DUMP/phonemize_cache.json,
       DUMP/lexicon/{train,dev}.tsv with --lexicon-words N (cmudict words for G2P)

With --lexicon FILE (a user lexicon, mtts.text.lexicon) its words are pronounced as it says;
its entries are saved in DUMP/text_config.json, which training copies into every checkpoint
and package, so synthesis pronounces them the same way.

As shard K of N (--job K --njobs N) it normalises and phonemizes only the utterances whose id
hashes to K (mtts.data.shards), reading the phonemizer cache but writing only
DUMP/shards/tokenize.K-of-N.json (its readings and new cache entries); --merge --njobs N then
writes every file above, the same bytes a single run writes.
"""

from __future__ import annotations

from pathlib import Path

from mtts.data.datadir import read_table, validate_datadir, write_table
from mtts.data.shards import check_job, check_settings, digest, missing_shards, shard_name, shard_of
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
             lexicon: Path | None = None, job: int | None = None, njobs: int = 1, merge: bool = False) -> dict:
    """The whole stage; with `job`, shard `job` of `njobs` (DUMP/shards/ only); with `merge`,
    the tables and data-dir files from the `njobs` shards."""
    check_job(job, njobs, merge)
    get_normalizer(normalizer)  # fail early on an unknown name
    user_lex = read_lexicon(lexicon) if lexicon is not None else {}
    texts = _read_texts(data_dir)
    settings = {"normalizer": normalizer, "lexicon": digest(sorted(user_lex.items())), "njobs": njobs,
                "texts": digest(texts)}
    cache_path = dump_dir / "phonemize_cache.json"
    if job is not None:
        return _shard(texts, dump_dir, normalizer, user_lex, job, njobs, settings)
    # the phonemizer cache is keyed by normalised text, so it is shared by both normalisers
    # (it holds espeak's output only: the user lexicon is applied on top)
    phonemizer = Phonemizer(cache_path=cache_path, lexicon=user_lex)
    if merge:
        norm_by_set, phones_by_set = _merge(texts, dump_dir, njobs, settings, phonemizer)
    else:
        norm_by_set, phones_by_set = _read_all(texts, phonemizer, normalizer)
    return _finish(data_dir, dump_dir, normalizer, lexicon_words, user_lex, phonemizer, norm_by_set, phones_by_set)


def _read_texts(data_dir: Path) -> dict[str, dict[str, str]]:
    """{set: {id: transcript}} of the data dirs there are, checked before any work."""
    sets = [s for s in SETS if (data_dir / s / "text").is_file()]
    if "train" not in sets:
        raise MttsError(f"{data_dir / 'train' / 'text'} does not exist: run `mtts prepare` first")
    for s in sets:   # a data dir of prepare's (hand-made ones may hold only text)
        if (data_dir / s / "wav.scp").is_file():
            validate_datadir(data_dir / s)
    return {s: read_table(data_dir / s / "text") for s in sets}


def _read_all(texts: dict[str, dict[str, str]], phonemizer: Phonemizer,
              normalizer: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Normalised text and phonemes of every utterance, {set: {id: ...}}, ids sorted."""
    norm_by_set, phones_by_set = {}, {}
    for s, text in texts.items():
        ids = sorted(text)
        norm, phones = text_to_phones([text[i] for i in ids], phonemizer, normalizer)
        norm_by_set[s], phones_by_set[s] = dict(zip(ids, norm)), dict(zip(ids, phones))
    return norm_by_set, phones_by_set


def _shard(texts: dict, dump_dir: Path, normalizer: str, user_lex: dict, job: int, njobs: int,
           settings: dict) -> dict:
    # the shared cache is read, never written: the new entries go into this shard's file
    phonemizer = Phonemizer(lexicon=user_lex)
    cache_path = dump_dir / "phonemize_cache.json"
    phonemizer.cache = Phonemizer(cache_path=cache_path).cache
    known = set(phonemizer.cache)
    mine = {s: {i: t for i, t in text.items() if shard_of(i, njobs) == job} for s, text in texts.items()}
    norm_by_set, phones_by_set = _read_all(mine, phonemizer, normalizer)
    path = dump_dir / "shards" / f"{shard_name('tokenize', job, njobs)}.json"
    write_json(path, {"settings": settings, "norm": norm_by_set, "phones": phones_by_set,
                      "cache": {t: p for t, p in phonemizer.cache.items() if t not in known}})
    return {"job": job, "njobs": njobs, **{s: len(v) for s, v in mine.items()}, "espeak_calls": phonemizer.calls,
            "shard": str(path)}


def _merge(texts: dict, dump_dir: Path, njobs: int, settings: dict,
           phonemizer: Phonemizer) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The shards' readings as `_read_all` gives them; their new cache entries join the cache."""
    paths = [dump_dir / "shards" / f"{shard_name('tokenize', k, njobs)}.json" for k in range(1, njobs + 1)]
    missing_shards(paths, "mtts tokenize", njobs)
    norm_by_set: dict[str, dict[str, str]] = {s: {} for s in texts}
    phones_by_set: dict[str, dict[str, str]] = {s: {} for s in texts}
    new: dict[str, str] = {}
    for k, path in enumerate(paths, 1):
        shard = read_json(path)
        check_settings(path, shard.get("settings", {}), settings)
        for s, text in texts.items():
            if sorted(shard["phones"].get(s, {})) != sorted(i for i in text if shard_of(i, njobs) == k):
                raise MttsError(f"{path} holds other utterances of {s} than shard {k} of {njobs}: rerun it")
            norm_by_set[s].update(shard["norm"][s])
            phones_by_set[s].update(shard["phones"][s])
        new.update(shard["cache"])
    if set(new) - set(phonemizer.cache):
        phonemizer.cache.update(new)
        phonemizer.save()
    return ({s: dict(sorted(v.items())) for s, v in norm_by_set.items()},
            {s: dict(sorted(v.items())) for s, v in phones_by_set.items()})


def _finish(data_dir: Path, dump_dir: Path, normalizer: str, lexicon_words: int, user_lex: dict,
            phonemizer: Phonemizer, norm_by_set: dict, phones_by_set: dict) -> dict:
    """Checks, token tables and every file, from all readings: shared by a single run and the merge."""
    for s, phones in phones_by_set.items():
        bad = [i for i, p in phones.items() if not any(c.isalpha() for c in p)]
        if bad:
            raise MttsError(f"{data_dir / s / 'text'}: no pronounceable words in "
                            f"{', '.join(bad[:5])}; fix or remove those utterances")
    sets = list(phones_by_set)
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
