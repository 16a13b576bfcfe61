"""Build one static listening-test page (APE design, De Man & Reiss 2014) from ``<excerpt>/<method>.<ext>``.

The page (``index.html``) is self-contained: its CSS, JavaScript and the test plan are inline, the
stimuli are copied next to it under blind names (``audio/<page>-<token>.<ext>``, the token a hash of
the seed, excerpt and method), so it works from ``file://`` with no server and no network. Everything
it writes depends only on the stimuli and the options: the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

from dmcdata.shards import write_atomic

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SCALE = ("Bad", "Poor", "Fair", "Good", "Excellent")
MARKER = "listen.json"  # written into every page folder; --overwrite only deletes folders that have it
TEMPLATE = Path(__file__).with_name("page.html")


class ListenError(ValueError):
    """Stimuli or options a page cannot be built from (the message names the file or folder)."""


def scan_stimuli(root: str | os.PathLike) -> list[dict]:
    """Pages in excerpt-name order: ``{"excerpt", "stimuli": [{"method", "path"}]}`` with methods sorted."""
    root = Path(root)
    if not root.is_dir():
        raise ListenError(f"{root}: no such folder (expected <excerpt>/<method>.wav inside)")
    pages = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        methods = [p.stem for p in files]
        dupes = sorted({m for m in methods if methods.count(m) > 1})
        if dupes:
            raise ListenError(f"{folder}: method {dupes[0]!r} has more than one file")
        if len(files) == 1:
            raise ListenError(f"{folder}: only one stimulus ({files[0].name}); a page compares two or more")
        if files:
            pages.append({"excerpt": folder.name, "stimuli": [{"method": p.stem, "path": p} for p in files]})
    if not pages:
        raise ListenError(f"{root}: no <excerpt>/<method>{{{','.join(AUDIO_SUFFIXES)}}} files found")
    return pages


def _token(seed: str, excerpt: str, method: str) -> str:
    return hashlib.sha256(f"{seed}\0{excerpt}\0{method}".encode()).hexdigest()[:12]


def render_page(pages: list[dict], title: str, seed: str, shuffle_pages: bool) -> tuple[str, dict]:
    """The page's HTML and its plan (blind file names per stimulus)."""
    test_id = hashlib.sha256(json.dumps([title, seed, [[p["excerpt"], [s["method"] for s in p["stimuli"]]]
                                                       for p in pages]]).encode()).hexdigest()[:12]
    plan = {"test_id": test_id, "title": title, "seed": seed, "shuffle_pages": shuffle_pages, "scale": list(SCALE),
            "pages": [{"excerpt": p["excerpt"],
                       "stimuli": [{"method": s["method"],
                                    "src": f"audio/{i + 1:02d}-{_token(seed, p['excerpt'], s['method'])}{s['path'].suffix.lower()}"}
                                   for s in p["stimuli"]]} for i, p in enumerate(pages)]}
    # "</" must not end the inline <script>; JSON allows "<\/"
    config = json.dumps(plan, indent=1, ensure_ascii=False).replace("</", "<\\/")
    page = TEMPLATE.read_text(encoding="utf-8").replace("__TITLE__", html.escape(title)).replace("__CONFIG__", config)
    return page, plan


def build(stimuli: str | os.PathLike, out: str | os.PathLike, title: str = "Listening test", seed: str = "0",
          shuffle_pages: bool = True, overwrite: bool = False) -> dict:
    """Write ``out/index.html``, ``out/audio/*`` and ``out/listen.json`` (the plan, for the analysis)."""
    out = Path(out)
    pages = scan_stimuli(stimuli)
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file()):
            raise ListenError(f"{out}: exists and is not a listening-test folder written by this command; choose another --out")
        if any(out.iterdir()) and not overwrite:
            raise ListenError(f"{out}: already holds a listening test; pass --overwrite to replace it")
    if not re.fullmatch(r"[^\x00-\x1f]{1,200}", title):
        raise ListenError("--title must be 1-200 printable characters")
    page, plan = render_page(pages, title, seed, shuffle_pages)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "audio").mkdir(parents=True)
        for src_page, planned in zip(pages, plan["pages"]):
            for s, p in zip(src_page["stimuli"], planned["stimuli"]):
                shutil.copyfile(s["path"], tmp / p["src"])
        write_atomic(tmp / "index.html", page.encode("utf-8"))
        write_atomic(tmp / MARKER, (json.dumps(plan, indent=1) + "\n").encode("utf-8"))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return plan
