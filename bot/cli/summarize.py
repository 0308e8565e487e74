"""`python -m bot summarize SOURCE [--lang ar|en] [--length short|detailed] [--format ...]`.

SOURCE is an http(s) URL (a web page, a PDF or a picture), a file path (text, a PDF,
.docx or HTML document, or a picture read by OCR), `-` for stdin, or the text itself. Prints the
digest on stdout as plain text, JSON (every field, plus source, date and cache status)
or Telegram-ready HTML. While it works, the current stage (fetching, extracting,
summarizing part 2 of 3) is shown on stderr, only when stderr is a terminal; when
stdout is a terminal and the format is text, the digest is drawn there as the model
writes it, then replaced by the checked one (JSON and HTML output never change). Bad input
raises a typed error that bot.cli prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bot.chat.terminal import LiveTerminal
from bot.config import Settings
from bot.domain import Article, Digest, Progress, SourceKind, Stage
from bot.errors import BadInput
from bot.i18n import t
from bot.ingest.documents import check_size
from bot.ingest.inputs import read_source
from bot.readers import Input
from bot.render import render_digest_html, render_digest_text, render_partial_text
from bot.store.redis import open_store

DOCUMENT_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".xhtml")
# pictures (a screenshot, a photo of a page) are read by OCR
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


def stderr_progress(ui: str, live: LiveTerminal | None = None, *, status: bool = True) -> Progress:
    """A progress callback that rewrites one status line on stderr (`status`), and
    draws the digest as it is written on `live` (stdout, a terminal)."""

    async def show(stage: Stage) -> None:
        if stage.partial is not None:
            if live is not None and live.enabled:
                if status:
                    sys.stderr.write("\r\033[K")
                    sys.stderr.flush()
                live.show(render_partial_text(stage.partial))
            return
        if not status:
            return
        key = f"progress.{stage.name}" + ("_part" if stage.total > 1 else "")
        label = t(ui, key, part=stage.part, total=stage.total)
        if label == key:  # no catalog entry: the stage name is still informative
            label = stage.name + (f" {stage.part}/{stage.total}" if stage.total > 1 else "")
        sys.stderr.write(f"\r\033[K{label}…")
        sys.stderr.flush()

    return show


def read_document(arg: str) -> Input | None:
    """The PDF, .docx or HTML file named by `arg`, for the readers (None for anything
    else: a link, text, stdin or a plain-text file, which read_source handles).
    Raises BadInput subclasses (too large, unreadable)."""
    path = Path(arg).expanduser()
    if path.suffix.lower() not in DOCUMENT_SUFFIXES + IMAGE_SUFFIXES or not path.is_file():
        return None
    check_size(path.stat().st_size)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"Cannot read the file {path.name}.", reason="file_unreadable", name=path.name
        ) from exc
    return Input(data=data, name=path.name, origin="upload")


def describe_source(
    arg: str, kind: SourceKind, value: str, article: Article | None = None
) -> dict[str, Any]:
    """What the digest was made from, for the JSON output (for a file read now: what
    each PDF page gave, "text" layer, "ocr" or "none", and the pages OCR read)."""
    if article is not None:
        return {
            "kind": "file",
            "value": arg,
            "pages": article.pdf_pages,
            "ocr_pages": article.ocr_pages,
        }
    if kind == "url":
        return {"kind": "url", "value": value}
    if arg == "-":
        return {"kind": "stdin", "value": None}
    if Path(arg).expanduser().is_file():
        return {"kind": "file", "value": arg}
    return {"kind": "text", "value": None}


def to_json(digest: Digest, source: dict[str, Any]) -> str:
    """The digest as JSON: every Digest field plus `source`, `date` and `cache`."""
    data = digest.model_dump(mode="json")
    data["source"] = source
    data["date"] = digest.published.isoformat() if digest.published else None
    data["cache"] = "hit" if digest.cached else "miss"
    return json.dumps(data, ensure_ascii=False, indent=2)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Summarize one SOURCE and print it; return the exit code (errors are raised).

    Unless LOG_LEVEL is set explicitly, only errors are logged, so stderr holds nothing
    but the progress line (on a terminal) or the one-line error message.
    """
    if "log_level" not in settings.model_fields_set:
        logging.getLogger().setLevel(logging.ERROR)
    document = read_document(args.source)
    article: Article | None = None
    kind: SourceKind = "text"
    value = ""
    if document is None:
        kind, value = read_source(args.source)
    from bot.app import build_summarizer  # heavy imports after input checks

    tty = sys.stderr.isatty()
    live = LiveTerminal(sys.stdout, enabled=args.format == "text" and sys.stdout.isatty())
    progress = None
    if tty or live.enabled:
        progress = stderr_progress(args.lang or "en", live, status=tty)
    store = await open_store(settings)
    try:
        service = await build_summarizer(settings, store)
        try:
            if document is not None:
                article = await service.load_document(document)
                digest = await service.summarize(
                    article,
                    lang=args.lang or article.language,
                    length=args.length,
                    progress=progress,
                )
            else:
                digest = await service.digest(
                    value, kind=kind, lang=args.lang, length=args.length, progress=progress
                )
        finally:
            await service.aclose()
    finally:
        await store.close()
        if tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    live.clear()  # the digest as written gives way to the checked one
    ui = args.lang or digest.lang
    if args.format == "json":
        out = to_json(digest, describe_source(args.source, kind, value, article))
    elif args.format == "html":
        out = render_digest_html(digest, ui)
    else:
        out = render_digest_text(digest, ui)
    print(out)
    return 0
