#!/usr/bin/env python3
"""How many of feedparser's own test files outcry reads as feedparser does.

feedparser is the most widely trusted lenient feed reader; its sdist carries ~2,000 test
files under tests/. For each file this compares the items outcry's feed extraction yields
with the entries feedparser yields: their count, titles (as plain text) and links. It also
counts crashes, hangs (over 10 s) and files read with more than 16 MB resident.

Entries feedparser yields with neither a title nor any text (summary/content) are left out
of the comparison: outcry skips such items by design, as there is nothing in them to find a
complaint in.

Not part of `cargo test` (it needs the sdist and feedparser). Setup:

    python3 -m venv /tmp/fpenv && /tmp/fpenv/bin/pip install feedparser chardet
    pip download --no-deps --no-binary :all: feedparser -d /tmp/fp
    tar xzf /tmp/fp/feedparser-*.tar.gz -C /tmp/fp
    /tmp/fpenv/bin/python scripts/feedparser_corpus.py /tmp/fp/feedparser-*/tests

Options: --show CATEGORY prints the files of that category that disagree, with both sides.
"""

import argparse
import collections
import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import feedparser

BASE = "http://corpus.invalid/"
TIMEOUT = 10
MEMORY_LIMIT_KB = 16 * 1024

CATEGORIES = [
    ("wellformed/rss/", "RSS"),
    ("wellformed/rdf/", "RSS 1.0"),
    ("wellformed/atom10/", "Atom 1.0"),
    ("wellformed/atom/", "Atom 0.3"),
    ("wellformed/json/", "JSON Feed"),
    ("json/", "JSON Feed"),
    ("encoding/", "encoding"),
    ("illformed/", "ill-formed"),
]


def category(rel):
    for prefix, name in CATEGORIES:
        if rel.startswith(prefix):
            return name
    parts = rel.split("/")
    return "other: " + "/".join(parts[:-1])


def plain(text):
    """Markup dropped, entities decoded, whitespace collapsed."""
    if text is None:
        return ""
    text = re.sub(r"<[^>]*>", " ", text)
    text = html.unescape(text)
    return " ".join(text.split())


def feedparser_items(path, base):
    with open(path, "rb") as f:
        data = f.read()
    # No response headers: with any, feedparser assumes HTTP's ISO-8859-1 default and stops
    # detecting the charset. Relative links stay relative; they are resolved below.
    d = feedparser.parse(data)
    items = []
    for e in d.entries:
        has_text = (
            bool(e.get("title"))
            or bool(e.get("summary"))
            or any(c.get("value") for c in e.get("content", []))
        )
        if not has_text:
            continue
        title = e.get("title")
        kind = (e.get("title_detail") or {}).get("type", "text/plain")
        if title is not None and "html" not in kind:
            title = " ".join(title.split())
        else:
            title = plain(title)
        link = e.get("link") or None
        # feedparser takes an id or guid for the link when there is none, even one that is
        # no URL ("e1", "urn:x1"), and resolves it against the feed's address; outcry takes
        # only a guid that is a web address (and not isPermaLink="false").
        if link and link == e.get("id") and not re.match(r"https?://", link):
            link = None
        items.append({"title": title or "", "url": urllib.parse.urljoin(base, link) if link else None})
    return {"version": d.get("version") or "", "bozo": bool(d.get("bozo")), "items": items}


def outcry_items(binary, path, base):
    started = time.monotonic()
    proc = subprocess.Popen([binary, path, base], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"hang": True}
    result = {"seconds": time.monotonic() - started}
    if proc.returncode != 0:
        result["crash"] = err.decode("utf-8", "replace")[-500:]
        return result
    result.update(json.loads(out))
    for item in result.get("items", []):
        item["title"] = " ".join((item.get("title") or "").split())
    return result


def peak_kb(binary, path, base):
    """The peak resident memory of one more run, from wait4 (per child, unlike getrusage)."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(binary, [binary, path, base])
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_maxrss


def agree(fp, ours):
    if "error" in ours:
        return not fp["items"]
    mine = ours.get("items", [])
    if len(mine) != len(fp["items"]):
        return False
    for a, b in zip(fp["items"], mine):
        if a["title"] != b["title"]:
            return False
        if (a["url"] or None) != (b["url"] or None):
            return False
    return True


def build():
    out = subprocess.run(
        ["cargo", "build", "--bench", "feedparser_corpus", "--message-format=json"],
        check=True,
        stdout=subprocess.PIPE,
        cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
    ).stdout
    for line in out.decode().splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "feedparser_corpus":
            if msg.get("executable"):
                return msg["executable"]
    sys.exit("cannot find the feedparser_corpus binary")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tests", help="the tests/ folder of feedparser's sdist")
    parser.add_argument("--binary", help="a built feedparser_corpus binary (default: build it)")
    parser.add_argument("--show", help="print the disagreeing files of this category")
    args = parser.parse_args()
    binary = args.binary or build()

    totals = collections.defaultdict(lambda: collections.Counter())
    shown = []
    crashes = hangs = 0
    peak = 0
    for root, _, files in os.walk(args.tests):
        for name in sorted(files):
            if name.endswith(".expected.json") or not name.endswith((".xml", ".json", ".rdf", ".atom", ".rss")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, args.tests)
            base = BASE + rel
            cat = category(rel)
            try:
                fp = feedparser_items(path, base)
            except Exception as e:  # feedparser itself gives up: nothing to compare with
                totals[cat]["feedparser failed"] += 1
                continue
            ours = outcry_items(binary, path, base)
            peak = max(peak, peak_kb(binary, path, base))
            stats = totals[cat]
            stats["files"] += 1
            if ours.get("hang"):
                hangs += 1
                stats["hang"] += 1
                continue
            if "crash" in ours:
                crashes += 1
                stats["crash"] += 1
                shown.append((cat, rel, fp, ours))
                continue
            if fp["version"]:
                stats["feeds"] += 1
            if "error" in ours:
                stats["refused"] += 1
            if ours.get("repaired"):
                stats["repaired"] += 1
            if agree(fp, ours):
                stats["agree"] += 1
            else:
                shown.append((cat, rel, fp, ours))

    print(f"{'category':<28} {'files':>6} {'agree':>6} {'share':>7} {'refused':>8} {'repaired':>9}")
    all_files = all_agree = 0
    for cat in sorted(totals):
        s = totals[cat]
        if not s["files"]:
            continue
        all_files += s["files"]
        all_agree += s["agree"]
        print(f"{cat:<28} {s['files']:>6} {s['agree']:>6} {s['agree'] / s['files']:>7.3f} {s['refused']:>8} {s['repaired']:>9}")
    print(f"{'all':<28} {all_files:>6} {all_agree:>6} {all_agree / max(all_files, 1):>7.3f}")
    print(f"crashes: {crashes}, hangs: {hangs}, peak resident: {peak / 1024:.1f} MB")
    if not any(cat == "JSON Feed" for cat in totals):
        print("(this sdist has no JSON Feed files)")
    if args.show:
        for cat, rel, fp, ours in shown:
            if cat == args.show or args.show == "all":
                print(f"\n== {rel}")
                print("  feedparser:", json.dumps(fp["items"], ensure_ascii=False)[:600])
                print("  outcry:    ", json.dumps(ours, ensure_ascii=False)[:600])


if __name__ == "__main__":
    main()
