"""Rendering an Answer for a chat: Telegram HTML or plain text (pure functions).

Every piece of model or article text is escaped; labels come from the locale catalogs
in the user's interface language.
"""

from __future__ import annotations

import html

from bot.followups.service import Answer
from bot.i18n import t

PASSAGE_CHARS = 900  # a displayed passage is cut to this many characters


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


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
    Otherwise: the answer, its verified quote as a blockquote, or an "unverified" mark
    when the model's quote was not found in the article.
    """
    parts: list[str] = []
    if answer.path == "passages":
        parts.append(f"<i>{_esc(t(ui_lang, 'followup.passages_label'))}</i>")
        parts += [f"<blockquote>{_esc(_cut(p))}</blockquote>" for p in answer.passages]
        return "\n".join(parts)
    parts.append(_esc(answer.text.strip()))
    if answer.path == "unavailable":
        if answer.passages:
            parts.append("")
            parts.append(f"<i>{_esc(t(ui_lang, 'followup.passages_label'))}</i>")
            parts += [f"<blockquote>{_esc(_cut(p))}</blockquote>" for p in answer.passages]
        return "\n".join(parts)
    if answer.quote:
        parts.append(f"<blockquote>{_esc(answer.quote.strip())}</blockquote>")
    elif not answer.verified and not answer.not_in_article:
        parts.append(f"<i>{_esc(t(ui_lang, 'followup.unverified'))}</i>")
    return "\n".join(parts)


def render_answer_text(answer: Answer, ui_lang: str) -> str:
    """Return the answer as plain text (console): same content as the HTML, no markup."""
    parts: list[str] = []
    if answer.path == "passages":
        parts.append(t(ui_lang, "followup.passages_label"))
        parts += [f"> {_cut(p)}" for p in answer.passages]
        return "\n".join(parts)
    parts.append(answer.text.strip())
    if answer.path == "unavailable":
        if answer.passages:
            parts.append("")
            parts.append(t(ui_lang, "followup.passages_label"))
            parts += [f"> {_cut(p)}" for p in answer.passages]
        return "\n".join(parts)
    if answer.quote:
        parts.append(f"> {answer.quote.strip()}")
    elif not answer.verified and not answer.not_in_article:
        parts.append(f"({t(ui_lang, 'followup.unverified')})")
    return "\n".join(parts)
