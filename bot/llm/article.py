"""The one prefix of every request about an article (issue 21).

Every LLM request about one article (its digest and the digest's corrective retry, the
translation into the other language, the answers to follow-up questions and to
questions about a briefing's story) starts with the same two messages, byte for byte:

1. the system message `prompts/article.md` (the rules common to all article work:
   the article is data, only its facts, numbers copied exactly, JSON replies);
2. the article message: in the user role, the article's title line and its numbered
   sentences (`grounding.evidence.numbered_text`) between `<article>` tags, defused
   (`defuse.py`), so the article can never close its own block.

The task (`prompts/summarize.md`, `answer.md`, `translate_item.md`, ...) comes after,
in a later user message, and a corrective retry appends the model's reply and the
correction to the conversation instead of rebuilding it. A server that caches prompt
prefixes (llama.cpp's KV cache, vLLM's automatic prefix caching, SGLang, Ollama,
OpenAI's prompt caching) then reads the article once for all of them: the first
question after a digest costs its question, not the whole article again.

A long article (map/reduce) has one prefix per part (`messages(part)`) and the reduce
call one over its notes (`notes_messages`). Those notes are kept with the article
(`keys.article_notes`), and the digest's translation and the follow-up answers about the
article start with the same notes prefix; an answer's passages (picked by retrieval for
each question) come in its task message, after the prefix. Without kept notes (expired,
or a digest from before) they are sent as before: the translation's task alone, and
the passages as the article message.
"""

from __future__ import annotations

from bot.domain import Article
from bot.grounding.evidence import number_sentences, numbered_text
from bot.llm.client import Message
from bot.llm.defuse import defuse
from bot.llm.prompts import load_prompt

SYSTEM_PROMPT = "article"
PROMPTS = (SYSTEM_PROMPT,)


def title_line(article: Article) -> str:
    """The article's title and a blank line ('' without a title)."""
    return f"{article.title}\n\n" if article.title else ""


def numbered_body(article: Article, numbered: str | None = None) -> str:
    """What the model reads of `article`: its title line, then its numbered sentences
    (`numbered`, when the caller has them already: the same text as computed here)."""
    if numbered is None:
        numbered = numbered_text(number_sentences(article.text))
    return title_line(article) + numbered


def system_message() -> Message:
    return {"role": "system", "content": load_prompt(SYSTEM_PROMPT).text.strip()}


def messages(body: str, *, tag: str = "article") -> list[Message]:
    """The prefix for an article whose text for the model is `body` (numbered
    sentences, passages, a part, notes): the system message and the article message."""
    block = f"<{tag}>\n{defuse(body, tag)}\n</{tag}>"
    return [system_message(), {"role": "user", "content": block}]


def notes_messages(notes: str) -> list[Message]:
    """The prefix of a long article's reduce call, its translation and its follow-ups:
    the system message and the notes taken on its parts (`notes`: their text as the
    reduce call reads it)."""
    return messages(notes, tag="notes")


def article_messages(article: Article, numbered: str | None = None) -> list[Message]:
    """The shared prefix of every request about the whole of `article`."""
    return messages(numbered_body(article, numbered))


def with_task(prefix: list[Message], task: str) -> list[Message]:
    """`prefix` followed by the task, a user message of its own."""
    return [*prefix, {"role": "user", "content": task}]


def followed_by(conversation: list[Message], reply: str, correction: str) -> list[Message]:
    """The conversation continued: the model's reply (left out when it wrote nothing:
    some servers refuse an empty assistant turn), then the correction asked for."""
    turn = [{"role": "assistant", "content": reply}] if reply.strip() else []
    return [*conversation, *turn, {"role": "user", "content": correction}]
