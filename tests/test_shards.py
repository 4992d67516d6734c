"""Preparation as an array job: `prepare`/`tokenize --job K --njobs N` then `--merge` write the
same bytes as one process; shards run at once beside each other but not beside a whole run;
a merge refuses missing shards and shards made otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input import fails, no_temp_files, ok

from mtts.data.shards import shard_of
from mtts.errors import MttsError
from mtts.io import DirLock

from conftest import requires_espeak


def prep(corpus: Path, work: Path, *extra) -> list:
    return ["prepare", corpus, "--data-dir", work / "data", "--dump-dir", work / "dump", "--nj", 1, *extra]


def tok(work: Path, *extra) -> list:
    return ["tokenize", "--data-dir", work / "data", "--dump-dir", work / "dump", *extra]


def files(root: Path) -> dict[str, bytes]:
    """Every file a stage leaves, by relative path, with `root` in paths (feats.scp) as ROOT: the
    lock (its holder's pid) and the shards' own files aside."""
    return {str(p.relative_to(root)): p.read_bytes().replace(str(root.resolve()).encode(), b"ROOT")
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock" and "shards" not in p.relative_to(root).parts}


def test_shard_membership_is_a_stable_hash_of_the_id():
    ids = [f"LJ001-{i:04d}" for i in range(300)]
    shards = [shard_of(u, 3) for u in ids]
    assert set(shards) == {1, 2, 3} and all(60 < shards.count(k) < 140 for k in (1, 2, 3))
    # fixed values: a change of hash would silently re-split corpora half-prepared in shards
    assert [shard_of(f"ES{i:03d}", 3) for i in range(12)] == [1, 2, 3, 1, 2, 1, 2, 3, 1, 3, 1, 2]
    code = "from mtts.data.shards import shard_of; print([shard_of(f'u{i}', 7) for i in range(50)])"
    other = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=Path(__file__).parents[1]).stdout
             for seed in ("1", "2")]
    assert other[0] == other[1] == f"{[shard_of(f'u{i}', 7) for i in range(50)]}\n"


@requires_espeak
def test_three_concurrent_shards_then_merge_equal_one_process(espeak_corpus, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    ok(prep(espeak_corpus, single))
    ok(tok(single))
    # the three shards at once, as an array job's tasks would run
    procs = [subprocess.Popen([sys.executable, "-m", "mtts.cli", *map(str, prep(espeak_corpus, sharded, "--job", k,
                                                                                 "--njobs", 3))],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (1, 2, 3)]
    for p in procs:
        out = p.communicate(timeout=300)[0]
        assert p.returncode == 0, out
    assert not (sharded / "data").exists() and not (sharded / "dump" / "stats.json").exists()
    ok(prep(espeak_corpus, sharded, "--merge", "--njobs", 3))
    for k in (1, 2, 3):
        ok(tok(sharded, "--job", k, "--njobs", 3))
    ok(tok(sharded, "--merge", "--njobs", 3))
    a, b = files(single), files(sharded)
    assert {"dump/stats.json", "dump/feature_params.json", "dump/tokens.txt", "dump/chars.txt",
            "dump/phonemize_cache.json", "data/train/phones", "data/dev/utt2dur", "data/test/feats.scp"} <= set(a)
    assert b"ROOT/dump/feats/" in a["data/train/feats.scp"]
    assert len([f for f in a if f.startswith("dump/feats/")]) == 12
    assert sorted(a) == sorted(b)
    assert [f for f in a if a[f] != b[f]] == []     # byte for byte, features included
    no_temp_files(tmp_path)


def test_merge_refuses_a_missing_shard_and_one_made_from_other_data(tmp_path):
    from test_bad_input import corpus
    root = corpus(tmp_path, 8)
    for k in (1, 3):
        ok(prep(root, tmp_path, "--job", k, "--njobs", 3))
    fails(prep(root, tmp_path, "--merge", "--njobs", 3), "shard(s) 2 of 3 not finished",
          "prepare.2-of-3", "--job K --njobs 3")
    assert not (tmp_path / "data").exists() and not (tmp_path / "dump" / "stats.json").exists()
    ok(prep(root, tmp_path, "--job", 2, "--njobs", 3))
    meta = root / "metadata.csv"
    meta.write_text(meta.read_text().replace("Sentence number 5.", "Sentence five."))
    fails(prep(root, tmp_path, "--merge", "--njobs", 3), "prepare.1-of-3", "other settings", "metadata.csv")
    assert not (tmp_path / "data").exists()
    fails(prep(root, tmp_path, "--merge", "--njobs", 3, "--trim-db", 30), "other parameters")
    fails(prep(root, tmp_path, "--job", 4, "--njobs", 3), "--job must be in 1..3")
    fails(prep(root, tmp_path, "--njobs", 3), "--njobs 3 needs --job K")
    fails(prep(root, tmp_path, "--job", 1, "--merge"), "not both")


def test_shards_may_read_the_corpus_where_each_node_mounts_it(tmp_path):
    import shutil

    from test_bad_input import corpus
    root = corpus(tmp_path / "a", 6)
    elsewhere = shutil.copytree(root, tmp_path / "b" / "mnt")   # the same corpus, another mount point
    ok(prep(root, tmp_path, "--job", 1, "--njobs", 2))
    ok(prep(elsewhere, tmp_path, "--job", 2, "--njobs", 2))
    ok(prep(root, tmp_path, "--merge", "--njobs", 2))
    assert sum(len(f.read_text().splitlines()) for f in (tmp_path / "data").glob("*/feats.scp")) == 6


def test_shards_share_the_dump_lock_but_a_whole_run_does_not(tmp_path):
    dump = tmp_path / "dump"
    a = DirLock(dump, "prepare", shared=True).acquire()
    b = DirLock(dump, "prepare", shared=True).acquire()    # a second shard beside the first
    with pytest.raises(MttsError, match="in use by another prepare .*pid .*shard jobs"):
        DirLock(dump, "prepare").acquire()                   # a whole run or a merge waits for them
    a.release()
    b.release()
    whole = DirLock(dump, "prepare").acquire()
    with pytest.raises(MttsError, match="in use by another prepare"):
        DirLock(dump, "prepare", shared=True).acquire()      # and a shard waits for a whole run
    with pytest.raises(MttsError, match="in use by another prepare"):
        DirLock(dump, "prepare").acquire()                   # two whole runs still refuse each other
    whole.release()


# ---------------------------------------------------------------- the recipes' cmd templates

UTILS = Path(__file__).resolve().parents[1] / "recipes" / "utils"
# stand-ins for Slurm's commands, doing what they are documented to do with the options used
FAKE_SBATCH = r"""#!/usr/bin/env bash
for a; do case $a in --array=*) r=${a#--array=};; --output=*) o=${a#--output=};; esac; done
echo "$@" > "$(dirname "$0")/sbatch.args"
rc=0
for ((i = ${r%-*}; i <= ${r#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i sh -c "${@: -1}" > "${o//%a/$i}" 2>&1 || rc=1; done
exit $rc
"""
FAKE_SRUN = r"""#!/usr/bin/env bash
n=${1#--ntasks=}; shift 2
pids=()
for ((i = 0; i < n; i++)); do SLURM_PROCID=$i "$@" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
"""


@pytest.mark.parametrize("template", ["run_local.sh", "run_sbatch.sh", "run_srun.sh"])
def test_cmd_templates_run_job_k_of_n_and_fail_when_one_job_fails(tmp_path, template):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    log = tmp_path / "log" / "part.JOB.log"
    # an argument with a space and a quote survives the trip through sbatch's /bin/sh script
    job = [sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(sys.argv[1] == '2')", "JOB", "it's a b"]
    res = subprocess.run(["bash", str(UTILS / template), "JOB=1:3", str(log), *job], env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0
    logs = {k: (tmp_path / "log" / f"part.{k}.log").read_text() for k in (1, 2, 3)}
    assert logs == {k: f"['{k}', \"it's a b\"]\n" for k in (1, 2, 3)}
    if template == "run_local.sh":
        assert "1 of 3 jobs failed" in res.stderr and "part.2.log" in res.stderr
    job[2] = "import sys; print(sys.argv[1])"
    assert subprocess.run(["bash", str(UTILS / template), "JOB=1:2", str(log), *job], env=env).returncode == 0
    if template == "run_sbatch.sh":
        assert "--wait --array=1-2" in (bin_dir / "sbatch.args").read_text()


@requires_espeak
def test_tokenize_merge_refuses_a_missing_shard_and_one_made_with_another_lexicon(tmp_path):
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    (train / "text").write_text("".join(f"U{i} Sentence number {i}.\n" for i in range(6)))   # a hand-made dir
    ok(tok(tmp_path, "--job", 1, "--njobs", 2))
    assert not (tmp_path / "dump" / "tokens.txt").exists() and not (train / "phones").exists()
    fails(tok(tmp_path, "--merge", "--njobs", 2), "shard(s) 2 of 2 not finished", "tokenize.2-of-2.json")
    lex = tmp_path / "lex.tsv"
    lex.write_text("sentence\tsɛntəns\n", encoding="utf-8")
    ok(tok(tmp_path, "--job", 2, "--njobs", 2, "--lexicon", lex))
    fails(tok(tmp_path, "--merge", "--njobs", 2), "tokenize.2-of-2.json", "other settings (lexicon:")
    assert not (tmp_path / "dump" / "tokens.txt").exists() and not (train / "phones").exists()
    ok(tok(tmp_path, "--job", 2, "--njobs", 2))
    ok(tok(tmp_path, "--merge", "--njobs", 2))
    assert len((train / "phones").read_text().splitlines()) == 6


def test_concurrent_ablation_jobs_rebuild_the_report_in_turn(tmp_path):
    import threading
    import time

    from mtts.io import waiting_lock
    order = []

    def second_job():
        with waiting_lock(tmp_path / "results" / ".report.lock"):
            order.append("second")
    with waiting_lock(tmp_path / "results" / ".report.lock"):
        t = threading.Thread(target=second_job)
        t.start()
        time.sleep(0.3)          # the second job is waiting, not writing
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]
