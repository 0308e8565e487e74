"""User input: validate URLs, find a URL in a chat message, read the CLI SOURCE argument.

Every refusal is a typed error from bot.errors (BadInput, TextTooShort) whose `detail`
says what was wrong in one short line; callers translate it for the user.
"""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx

from bot.domain import SourceKind
from bot.errors import BadInput, TextTooShort
from bot.ingest.arabic import clean_text

MIN_CHARS = 200
ARTICLE_MIN_CHARS = 300  # a pasted text this long is taken as an article without a command
MAX_URL_LENGTH = 2048
MAX_TEXT_BYTES = 5 * 1024 * 1024  # same ceiling as a fetched page

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_FIND_URL = re.compile(r"https?://[^\s<>\"'«»]+", re.I)
# Trailing punctuation that belongs to the sentence, not the URL.
_TRAILING = ".,;:!?،؛؟…\"'”’»"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_eid|igshid|_ga)$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_FILE_EXT = re.compile(
    r"\.(txt|text|md|markdown|html?|xhtml|xml|json|csv|tsv|rst|log|pdf|docx?|rtf|odt)$", re.I
)
_BARE_DOMAIN = re.compile(r"^(www\.)?[\w\-]+(\.[\w\-]+)*\.[a-z]{2,}(/\S*)?$", re.I)


def validate_url(url: str) -> str:
    """Return `url` stripped of surrounding whitespace if it is a fetchable http(s) URL.

    Raises BadInput (with a one-line `detail`) for other schemes (ftp:, javascript:,
    data:, file: ...), a missing host (including a bare "http://"), spaces or control
    characters inside the URL, user:password parts, a bad port, an undecodable
    international host name, or a URL longer than 2048 characters.
    """
    url = (url or "").strip()
    if not url:
        raise BadInput("The link is empty.", reason="empty_link")
    if len(url) > MAX_URL_LENGTH:
        raise BadInput(
            f"The link is too long (over {MAX_URL_LENGTH} characters).",
            reason="long_link",
            limit=MAX_URL_LENGTH,
        )
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise BadInput("The link contains spaces.", reason="link_spaces")
    m = _SCHEME.match(url)
    if not m:
        raise BadInput("The link must start with http:// or https://.", reason="no_scheme")
    scheme = m.group(1).lower()
    if scheme not in ("http", "https"):
        raise BadInput(
            f"Links of type {scheme}: are not supported; use http or https.",
            reason="scheme",
            scheme=scheme[:20],
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInput(
            "The link is malformed (bad host or port).", reason="malformed_link"
        ) from exc
    if not url[len(scheme) + 1 :].startswith("//"):
        raise BadInput("The link has no host name.", reason="no_host")
    host = parts.hostname
    if not host:
        raise BadInput("The link has no host name.", reason="no_host")
    if parts.username is not None or parts.password is not None:
        raise BadInput(
            "Links with a user name or password are not supported.", reason="credentials"
        )
    if port == 0:
        raise BadInput("The link has a bad port.", reason="bad_port")
    if not host.startswith("[") and ":" not in host:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise BadInput("The link's host name is not valid.", reason="bad_host") from exc
        if not re.fullmatch(r"[A-Za-z0-9.\-_]+", ascii_host) or ".." in ascii_host:
            raise BadInput("The link's host name is not valid.", reason="bad_host")
    try:
        _ = httpx.URL(url).host  # the fetcher's parser (IDNA 2008) must accept and decode it
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise BadInput("The link's host name is not valid.", reason="bad_host") from exc
    return url


def find_url(text: str) -> str | None:
    """Return the first http(s) URL in a chat message, without trailing punctuation, or None.

    Trailing ".", ",", "،", quotes and an unbalanced ")" / "]" are not part of the URL.
    """
    m = _FIND_URL.search(text or "")
    if not m:
        return None
    url = m.group()
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _PAIRS and url.count(_PAIRS[last]) < url.count(last)):
            url = url[:-1]
        else:
            break
    return url if len(url) > len("https://") else None


def url_for_log(url: str) -> str:
    """`url` as logs may show it: scheme and host only. A user's link or private feed
    can carry a token in its path or query (`?key=...`), which logs must not keep."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "<bad url>"
    return f"{parts.scheme or 'http'}://{host}/…"


def normalize_url(url: str) -> str:
    """Return the cache identity of `url`.

    Lowercase scheme and host (international names in punycode), default port dropped,
    fragment dropped, tracking parameters (utm_*, fbclid, gclid ...) removed and the
    remaining query parameters sorted; the path percent-encoded with upper-case escapes
    (an empty path becomes "/"). Does not validate: call validate_url first.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    elif not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    )
    path = _ESCAPE.sub(lambda m: m.group().upper(), quote(parts.path or "/", safe=_PATH_SAFE))
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def _check_text(text: str) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise BadInput("The text is empty.", reason="empty_text")
    if len(cleaned) < MIN_CHARS:
        raise TextTooShort(f"text has {len(cleaned)} characters", chars=len(cleaned))
    return text


def _read_file(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise BadInput(
            f"Cannot read the file {path.name}.", reason="file_unreadable", name=path.name
        ) from exc
    if len(data) > MAX_TEXT_BYTES:
        raise BadInput(
            f"The file {path.name} is too large (over 5 MB).",
            reason="file_too_large",
            name=path.name,
        )
    if b"\x00" in data[:8192]:
        raise BadInput(
            f"The file {path.name} is not a text file.", reason="file_not_text", name=path.name
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"The file {path.name} is not UTF-8 text.", reason="file_not_utf8", name=path.name
        ) from exc


def read_source(arg: str, stdin: TextIO | None = None) -> tuple[SourceKind, str]:
    """Resolve the CLI SOURCE argument.

    Returns ("url", validated URL) for an http(s) URL, or ("text", raw text) for "-"
    (read from `stdin`, default sys.stdin), an existing file (read as UTF-8), or an
    argument that is not a file and contains whitespace (the article text itself).

    Raises BadInput for other URL schemes (ftp://, javascript:, data:, file: ...), a bare
    or malformed http URL, a missing/unreadable/binary file, or empty text; TextTooShort
    (param `chars`) when the cleaned text is under MIN_CHARS characters.
    """
    arg = (arg or "").strip()
    if not arg:
        raise BadInput("No link, file or text was given.", reason="nothing_given")
    m = _SCHEME.match(arg)
    if arg == "-":
        stream = stdin if stdin is not None else sys.stdin
        try:
            text = stream.read(MAX_TEXT_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(
                "Cannot read the text from standard input.", reason="stdin_unreadable"
            ) from exc
        if len(text) > MAX_TEXT_BYTES:
            raise BadInput("The text is too large (over 5 MB).", reason="text_too_large")
        return "text", _check_text(text)
    if m and m.group(1).lower() in ("http", "https"):
        return "url", validate_url(arg)
    path = Path(arg).expanduser()
    if path.is_file():
        return "text", _check_text(_read_file(path))
    # Windows drive letters aside, "scheme:" means a URL of a kind we do not fetch.
    if m and (len(m.group(1)) > 1 or arg[2:3] == "/"):
        return "url", validate_url(arg)  # raises BadInput naming the scheme
    if path.exists():
        raise BadInput(
            f"{path.name} is not a regular file.", reason="not_regular_file", name=path.name
        )
    if any(ch.isspace() for ch in arg):
        return "text", _check_text(arg)  # the article text itself, given as the argument
    if _BARE_DOMAIN.match(arg) and not _looks_like_path(arg):
        raise BadInput("The link must start with http:// or https://.", reason="no_scheme")
    raise BadInput(f"No such file: {arg[:80]}", reason="no_such_file", name=arg[:80])


def _looks_like_path(arg: str) -> bool:
    """True for an argument that reads as a file path rather than a bare domain:
    it starts with ./, ../, / or ~, or it names a file with a document extension
    (nosuchfile.txt; but not bbc.com/news/story.html, which is a link without http)."""
    if arg.startswith((".", "/", "~")):
        return True
    return "/" not in arg and bool(_FILE_EXT.search(arg))
