"""Crash loop: `storycluster index` is SIGKILLed dozens of times mid-append; nothing acknowledged is lost.

The loop itself lives in ``bench/crash_loop.py`` (which runs it 1,000+ times); here a short run of it
must survive every kill: after each one the index opens, ``check_index`` is clean (the manifest names only
existing files, FAISS counts equal SQLite rows), every acknowledged article is there with its latest
acknowledged text, nothing is invented or duplicated, and a rerun completes the work.
"""

from __future__ import annotations

import random
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import crash_loop


def test_dozens_of_kills_lose_nothing(tmp_path, embedder, capsys):
    tally = crash_loop.crash_loop(
        40, seed=9, per_trial=2, batch_size=3, batches_per_round=30, fresh=3, seconds=120, work=tmp_path,
    )
    summary = tally.summary()
    with capsys.disabled():
        print(f"\n  crash loop: {summary}")
    assert tally.problems == []
    assert (tally.lost, tally.invented, tally.duplicated) == (0, 0, 0)
    assert tally.kills >= 20, summary  # 40 unless the machine is very busy: the loop stops at 120 s
    assert len(tally.kills_by_point) >= 8 and tally.timed_kills >= 3, summary  # kills land all over an append
    assert tally.fresh_kills >= 1, summary
    assert tally.articles_acknowledged >= tally.kills // 2, summary  # appends complete between kills (load-dependent)


def test_the_checker_notices_a_lost_article(tmp_path, embedder):
    """The loop's checker is not vacuous: an acknowledged article that goes missing is counted as lost."""
    from storycluster import ArticleReader, StoryIndex

    batches = crash_loop.make_batches(tmp_path / "batches", 2, 3, random.Random(1), "t")
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        for batch in batches:
            index.add(ArticleReader().read([batch]))
    ledger = crash_loop.Ledger(batches)
    ledger.sent = ledger.acked = 2
    tally = crash_loop.Tally()
    ledger.check(tmp_path / "index", tally, "intact")
    assert (tally.lost, tally.invented, tally.problems) == (0, 0, [])
    victim = next(iter(ledger.texts[0]))
    with StoryIndex.open(tmp_path / "index") as index:
        index.remove([victim])
    ledger.check(tmp_path / "index", tally, "after a removal")
    assert tally.lost == 1 and victim in tally.problems[0]

