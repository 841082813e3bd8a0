"""Kill/restart loop for `storycluster follow`: SIGKILL it at random moments while its feeds change; in the
end the index holds exactly the articles the feeds announced, each once, with its latest text.

A loopback HTTP server serves a few RSS feeds. Before and during every trial the feeds change: new entries appear
(some with the same link as an earlier one under another guid: duplicates), some entries are updated in
place (same guid, new text), and each changed feed gets a new ETag. A `storycluster follow FEEDS --every
0.1s` process (forked from a zygote that has imported storycluster and loaded the model) is SIGKILLed
after a random delay. After every kill the checker requires that

* the index opens and ``check_index`` finds nothing wrong;
* no article that was in the index before the kill is gone (what a poll committed stays committed);
* every article is one the feeds announced, with a text some version of its entry had; no URL twice.

At the end one `storycluster follow --once` runs to completion and the index must hold exactly the
announced entries (one per link), each with its latest text.

    python bench/follow_crash.py --kills 100       # prints kills, trials and problems (must be none)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crash_loop import FORK_LOOP, Zygote
from loopback import LoopbackServer, Route

PLACES = ["Valparaiso", "Rotterdam", "Mombasa", "Chittagong", "Genoa", "Durban", "Karachi", "Santos", "Busan"]
EVENTS = ["a flood", "a strike", "a fire", "a storm", "a power cut", "a cyber attack", "a collision"]

_ZYGOTE = r"""
import json, os, signal, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from storycluster import Embedder
from storycluster.cli import main
from storycluster.ingest import html_to_text, normalize_url, read_feed
import storycluster.stories.stored  # numba and the clustering
Embedder().encode(["warm up"])  # load the model and the libraries once; every forked process shares them
html_to_text("<p>warm up</p>"), normalize_url("http://warm.up/"), read_feed(b"<rss version='2.0'><channel/></rss>")

def child(job):
    out = open(job["out"], "a", buffering=1)
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    sys.stdout = sys.stderr = out
    try:
        main(job["argv"], standalone_mode=False)
    except BaseException as exc:
        print("child failed:", repr(exc), flush=True)
        os._exit(1)
    os._exit(0)
""" + FORK_LOOP


@dataclass
class Feeds:
    """The feeds' entries over time: guid -> every text it had (the last is current), and its link."""

    count: int
    rng: random.Random
    entries: list[dict[str, dict]] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    def __post_init__(self) -> None:
        self.entries = [{} for _ in range(self.count)]

    def change(self, server: LoopbackServer) -> None:
        """New entries (sometimes a duplicate link), updates in place, new ETags; publish on ``server``."""
        changed = set()
        for _ in range(self.rng.randint(1, 3)):
            feed = self.rng.randrange(self.count)
            self.serial += 1
            guid = f"entry-{self.serial}"
            if self.links and self.rng.random() < 0.15:  # the same article announced again under a new guid
                link = self.rng.choice(sorted(self.links.values()))
            else:
                link = server.url(f"/articles/{self.serial}.html")
            self.entries[feed][guid] = {"link": link, "title": self._title()}
            self.links.setdefault(guid, link)
            self.versions[guid] = [self._text()]
            changed.add(feed)
        if self.versions and self.rng.random() < 0.4:  # an entry updated in place
            guid = self.rng.choice(sorted(self.versions))
            self.versions[guid].append(self._text())
            changed.update(f for f in range(self.count) if guid in self.entries[f])
        for feed in changed:
            self.publish(server, feed)

    def publish(self, server: LoopbackServer, feed: int) -> None:
        items = "".join(
            f'<item><guid isPermaLink="false">{guid}</guid><link>{entry["link"]}</link><title>{entry["title"]}</title>'
            f"<description><![CDATA[{''.join(f'<p>{p}</p>' for p in self.versions[guid][-1].split(chr(10) * 2))}]]>"
            "</description></item>"
            for guid, entry in self.entries[feed].items()
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>{items}</channel></rss>'
        server.routes[f"/feed-{feed}.xml"] = Route(body.encode(), content_type="application/rss+xml",
                                                   etag=f'"{feed}-{self.serial}-{len(body)}"')

    def final_problems(self, final: dict[str, tuple[str, str | None]]) -> list[str]:
        """How ``final`` (id -> text, url) differs from what the feeds announced: one article per link, its id
        one of the guids that announced the link, with that entry's latest text."""
        guids_by_link: dict[str, set[str]] = {}
        for guid, link in self.links.items():
            guids_by_link.setdefault(link, set()).add(guid)
        stored_links = {url: i for i, (_, url) in final.items()}
        missing = sorted(set(guids_by_link) - set(stored_links))
        extra = sorted(set(stored_links) - set(guids_by_link))
        wrong = [i for url, i in stored_links.items() if url in guids_by_link and i not in guids_by_link[url]]
        stale = [i for i, (text, _) in final.items() if i in self.versions and text != self.versions[i][-1]]
        problems = [f"{name}: {items[:5]}" for name, items in
                    (("missing", missing), ("extra", extra), ("wrong id", wrong), ("stale", stale)) if items]
        if len(final) != len(guids_by_link):
            problems.append(f"{len(final)} articles for {len(guids_by_link)} announced links")
        return problems

    def _title(self) -> str:
        return f"{self.rng.choice(EVENTS).capitalize()} in {self.rng.choice(PLACES)}"

    def _text(self) -> str:
        event, place = self.rng.choice(EVENTS), self.rng.choice(PLACES)
        return "\n\n".join(
            f"Paragraph {p}: {event} hit the port of {place} on day {self.rng.randint(1, 999)}, officials said, "
            f"and {self.rng.randint(2, 90)} ships waited offshore while crews assessed the damage to cranes, "
            "warehouses and the rail link that carries containers inland."
            for p in range(self.rng.randint(1, 2))
        )


@dataclass
class Tally:
    trials: int = 0
    kills: int = 0
    finished: int = 0
    polls_logged: int = 0
    problems: list[str] = field(default_factory=list)


def stored(index_dir: Path) -> dict[str, tuple[str, str | None]]:
    """id -> (text, url) of every article in the index (empty if there is no index yet)."""
    from storycluster import StoryIndex
    from storycluster.errors import IndexNotFoundError

    try:
        with StoryIndex.open(index_dir) as index:
            ids, _ = index.article_vectors()
            return {i: (index.get(i).text, index.get(i).url) for i in ids}
    except IndexNotFoundError:
        return {}


def check(index_dir: Path, feeds: Feeds, before: dict, tally: Tally, when: str) -> dict:
    from storycluster.store.check import check_index

    if (index_dir / "manifest.json").exists():
        problems = check_index(index_dir)
        if problems:
            tally.problems.append(f"{when}: check: {problems[:3]}")
    now = stored(index_dir)
    lost = sorted(set(before) - set(now))
    invented = [i for i, (text, _) in now.items() if text not in feeds.versions.get(i, [])]
    urls = [url for _, url in now.values()]
    if lost or invented or len(urls) != len(set(urls)):
        tally.problems.append(f"{when}: lost {lost[:5]}, invented {invented[:5]}, {len(urls) - len(set(urls))} URLs twice")
    return now


def _keep_changing(world: Feeds, server: LoopbackServer, done: threading.Event, every: float, most: int) -> None:
    """Change the feeds every ``every`` seconds (``most`` times at the most) until ``done``: polls of a running
    follower find news, and the feeds do not grow without bound on a slow machine."""
    for _ in range(most):
        if done.wait(every):
            return
        world.change(server)


def follow_crash(kills: int, *, feeds: int = 3, seed: int = 0, max_delay: float | None = None, change_every: float = 0.7,
                 seconds: float | None = None, work: Path | None = None, log=print) -> Tally:
    """Kill `storycluster follow` ``kills`` times, checking after each kill, then finish and compare.

    Kills come after a random 0 to ``max_delay`` seconds (default: 2.5 times a first whole run, so that they
    land in start-up, fetching, embedding, committing and waiting alike whatever the machine's speed; a third
    trial in a row in which no poll completed stretches it by a fifth). With ``seconds``, killing stops after
    that long even if fewer kills were made; the final run and comparison happen either way."""
    rng = random.Random(seed)
    tally = Tally()
    scratch = tempfile.TemporaryDirectory(prefix="storycluster-follow-crash-") if work is None else None
    work = Path(scratch.name) if scratch else work
    index_dir, out = work / "index", work / "follow.log"
    zygote = Zygote(_ZYGOTE)
    try:
        with LoopbackServer() as server:
            server.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")
            world = Feeds(feeds, rng)
            for feed in range(feeds):
                world.publish(server, feed)
            feed_list = work / "feeds.txt"
            feed_list.write_text("".join(server.url(f"/feed-{f}.xml") + "\n" for f in range(feeds)))
            argv = ["follow", str(feed_list), "--index", str(index_dir), "--delay", "0", "--timeout", "5"]
            started = time.perf_counter()
            zygote.send({"argv": [*argv, "--once"], "out": str(out), "delay": None})  # sets the scale of the kill delays
            max_delay = max_delay or 2.5 * (time.perf_counter() - started)
            log(f"  one whole poll in a fresh process: {time.perf_counter() - started:.1f} s; kills within {max_delay:.1f} s")
            before = check(index_dir, world, {}, tally, "after the first run")
            polls, dry = out.read_text().count(" poll "), 0
            while tally.kills < kills and (seconds is None or time.perf_counter() - started < seconds):
                world.change(server)
                delay = rng.uniform(0.0, max_delay)
                done = threading.Event()
                changing = threading.Thread(target=_keep_changing, args=(world, server, done, change_every, 5))
                changing.start()
                try:
                    result = zygote.send({"argv": [*argv, "--every", "0.1s"], "out": str(out), "delay": delay})
                finally:
                    done.set()
                    changing.join()
                tally.trials += 1
                tally.kills += result["signal"] == 9
                polls, logged = out.read_text().count(" poll "), polls
                dry = dry + 1 if polls == logged else 0
                if dry >= 3:  # three trials without a poll: the machine is slower than at calibration
                    max_delay, dry = max_delay * 1.2, 0
                before = check(index_dir, world, before, tally, f"after kill {tally.kills}")
                if tally.trials % 10 == 0:
                    log(f"  {tally.kills} kills, {polls} polls logged, {len(before)} articles, {len(tally.problems)} problems, "
                        f"kills within {max_delay:.1f} s")
            result = zygote.send({"argv": [*argv, "--once"], "out": str(out), "delay": None})
            tally.finished = result["code"] == 0
            final = check(index_dir, world, before, tally, "at the end")
            tally.problems += [f"at the end: {problem}" for problem in world.final_problems(final)]
            tally.polls_logged = sum(" poll " in line for line in out.read_text().splitlines())
            log(f"  the feeds announced {len(set(world.links.values()))} articles; the index holds {len(final)}")
    finally:
        zygote.close()
        if scratch:
            scratch.cleanup()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--feeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, help="Kill after a random 0..N seconds (default: 2.5 times one whole run).")
    parser.add_argument("--change-every", type=float, default=0.7, help="Change the feeds every N seconds.")
    parser.add_argument("--minutes", type=float, help="Stop killing after this long (then finish and compare).")
    args = parser.parse_args()
    started = time.perf_counter()
    tally = follow_crash(args.kills, feeds=args.feeds, seed=args.seed, max_delay=args.max_delay,
                         change_every=args.change_every, seconds=args.minutes * 60 if args.minutes else None)
    print(json.dumps({
        "kills": tally.kills, "trials": tally.trials, "polls_logged": tally.polls_logged,
        "final_run_completed": bool(tally.finished), "problems": tally.problems[:10],
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))
    sys.exit(1 if tally.problems or not tally.finished else 0)


if __name__ == "__main__":
    main()
