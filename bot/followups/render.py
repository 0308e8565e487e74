"""Rendering an Answer for a chat: Telegram HTML or plain text (pure functions).

Every piece of model or article text is escaped; labels come from the locale catalogs
in the user's interface language. Every line gets direction marks (`bot.render.rtl_line`):
the answer in its own language, quotes and passages in the article's, labels in the
interface language, so Arabic reads right to left even when it starts with a number.
"""

from __future__ import annotations

from bot.followups.answer import Answer
from bot.i18n import t
from bot.ingest.arabic import detect_language
from bot.render import escape, rtl_text

PASSAGE_CHARS = 900  # a displayed passage is cut to this many characters


def _esc(text: str, lang: str | None = None) -> str:
    """Direction-marked (in `lang`, else the text's own language) and escaped."""
    return escape(rtl_text(text, lang or detect_language(text)))


def _plain(text: str, lang: str | None = None) -> str:
    return rtl_text(text, lang or detect_language(text))


def _cut(text: str, limit: int = PASSAGE_CHARS) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ،,.؛") + " …"


def render_answer_html(answer: Answer, ui_lang: str) -> str:
    """Return the answer as Telegram HTML (escaped text; quote and passages as blockquotes).

    path "passages": a label saying these are the top passages (no LLM), then each
    passage. path "unavailable": the apology, then the passages under the same label.
    Otherwise: the answer, then the article sentences it rests on as an expandable
    blockquote when it checked out against them (`verified`), else an "unverified" mark.
    """
    parts: list[str] = []
    if answer.path == "passages":
        parts.append(f"<i>{_esc(t(ui_lang, 'followup.passages_label'), ui_lang)}</i>")
        parts += [f"<blockquote>{_esc(_cut(p))}</blockquote>" for p in answer.passages]
        return "\n".join(parts)
    if answer.from_article:  # the article's own sentence, in its own language
        parts.append(_esc(answer.text.strip()))
        parts.append(f"<i>{_esc(t(ui_lang, 'followup.article_sentence'), ui_lang)}</i>")
        return "\n".join(parts)
    parts.append(_esc(answer.text.strip(), answer.lang))
    if answer.path == "unavailable":
        if answer.passages:
            parts.append("")
            parts.append(f"<i>{_esc(t(ui_lang, 'followup.passages_label'), ui_lang)}</i>")
            parts += [f"<blockquote>{_esc(_cut(p))}</blockquote>" for p in answer.passages]
        return "\n".join(parts)
    if answer.quote and answer.verified:
        parts.append(f"<blockquote expandable>{_esc(answer.quote.strip())}</blockquote>")
    elif not answer.verified and not answer.not_in_article:
        parts.append(f"<i>{_esc(t(ui_lang, 'followup.unverified'), ui_lang)}</i>")
    return "\n".join(parts)


def render_answer_text(answer: Answer, ui_lang: str) -> str:
    """Return the answer as plain text (console): same content as the HTML, no markup."""
    parts: list[str] = []
    if answer.path == "passages":
        parts.append(_plain(t(ui_lang, "followup.passages_label"), ui_lang))
        parts += [_plain(f"> {_cut(p)}") for p in answer.passages]
        return "\n".join(parts)
    if answer.from_article:
        parts.append(_plain(answer.text.strip()))
        parts.append(_plain(f"({t(ui_lang, 'followup.article_sentence')})", ui_lang))
        return "\n".join(parts)
    parts.append(_plain(answer.text.strip(), answer.lang))
    if answer.path == "unavailable":
        if answer.passages:
            parts.append("")
            parts.append(_plain(t(ui_lang, "followup.passages_label"), ui_lang))
            parts += [_plain(f"> {_cut(p)}") for p in answer.passages]
        return "\n".join(parts)
    if answer.quote and answer.verified:
        parts.append(_plain(f"> {answer.quote.strip()}"))
    elif not answer.verified and not answer.not_in_article:
        parts.append(_plain(f"({t(ui_lang, 'followup.unverified')})", ui_lang))
    return "\n".join(parts)
