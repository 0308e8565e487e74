"""`python -m bot summarize photo.jpg` and `scan.pdf`: read by OCR (with the per-page
paths in the JSON output), and, on a machine without Tesseract, one clear line."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from bot.ingest import ocr
from bot.store.redis import Store
from tests.fakes.images import encode, render_text
from tests.integration.test_cli_summarize import cli_env, summarize

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAGE = (FIXTURES / "real" / "pages" / "akhbarelyom-2020-10-07.expected.txt").read_text("utf-8")
needs_tesseract = pytest.mark.skipif(
    not ocr.available(),
    reason="Tesseract with the ara and eng models is not installed here "
    "(apt-get install tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng; .ci/run does it)",
)


@needs_tesseract
async def test_a_photo_and_a_scan_are_summarized_from_the_command_line(
    tmp_path: Path, redis_url: str, store: Store
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(render_text(PAGE), "JPEG"))
    scan = tmp_path / "scan.pdf"
    shutil.copy(FIXTURES / "ocr" / "scanned-ar.pdf", scan)
    env = cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=store.keys.prefix)
    code, out, err = await summarize(str(photo), "--format", "json", env=env, cwd=tmp_path)
    assert code == 0, err
    digest = json.loads(out)
    assert "نعيمة" in " ".join([digest["headline"], *digest["bullets"]])
    assert digest["source"]["ocr_pages"] == 1
    code, out, err = await summarize(str(scan), "--format", "json", env=env, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["source"]["pages"] == ["ocr", "ocr"]


async def test_without_tesseract_a_picture_gets_a_clear_line(
    tmp_path: Path, redis_url: str, store: Store
) -> None:
    """The same command on a machine without Tesseract (no `tesseract` on PATH)."""
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(render_text(PAGE)))
    env = cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=store.keys.prefix)
    env["PATH"] = str(Path(sys.executable).parent)  # python, and no tesseract
    code, out, err = await summarize(str(photo), env=env, cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: This server cannot read pictures (no OCR engine is installed). "
        "Paste the article's text or send a link instead."
    ]
