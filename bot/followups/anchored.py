"""The answer call and its evidence check: the model's reply -> its cited sentences ->
re-anchoring or one corrective retry -> a verified answer with its quote, or an answer
marked unverified (never presented as verified).

Every call, failed and retried ones included, is added to the caller's `Usage`. The
repairs are counted in `metrics.LLM_REPAIRS`: "recited" (the citation pointed
elsewhere; re-anchored to its support), "shape_retry" (the corrective retry),
"unsupported_dropped" (still unsupported: its quote dropped, shown unverified).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from bot import metrics
from bot.domain import Lang
from bot.errors import LLMError
from bot.followups.answer import ANSWER_SCHEMA, Answer, ModelAnswer
from bot.followups.grounding import Verdict, judge, problem, split_citations
from bot.grounding import evidence
from bot.grounding.evidence import Sentence
from bot.grounding.sentence import whole
from bot.i18n import t
from bot.llm.article import followed_by
from bot.llm.client import LLMClient, Message, Usage
from bot.llm.prompts import load_prompt
from bot.llm.stream import OnText

log = logging.getLogger(__name__)

RETRY_PROMPT_NAME = "answer_retry"
MAX_ANSWER_TOKENS = 400


@dataclass(frozen=True)
class Asked:
    """One answer call's reply: the answer, and the conversation with the model's reply
    as it wrote it (what a corrective retry continues)."""

    answer: ModelAnswer
    messages: list[Message]
    text: str


async def call(
    llm: LLMClient, messages: list[Message], usage: Usage, on_text: OnText | None = None
) -> Asked:
    """One answer call (streamed to `on_text` when given); what it cost (failed or not)
    is added to `usage`. Raises LLMError / ValidationError."""
    try:
        got = await llm.chat_json(
            messages,
            schema_name="answer",
            schema=ANSWER_SCHEMA,
            max_tokens=MAX_ANSWER_TOKENS,
            on_text=on_text,
        )
    except LLMError as err:
        usage.add_failed(err)
        raise
    usage.add(got.usage)
    return Asked(ModelAnswer.model_validate(got.data), messages, got.text)


@dataclass
class AnchoredAnswer:
    """Checks one question's reply against the article's numbered sentences."""

    llm: LLMClient
    sentences: Sequence[Sentence]
    same_language: bool  # the answer's language is the article's
    lang: Lang
    article_id: str
    usage: Usage

    async def check(self, asked: Asked) -> Answer:
        """The reply as an Answer: verified with its quote when its cited (or re-anchored)
        sentences support it and it is whole (no sentence cut off, no JSON debris); else
        one corrective retry (the correction appended to the conversation), then shown
        unverified, or, when it is still cut off, the article's own sentence it rests on,
        with a note."""
        reply = asked.answer
        text, ids = split_citations(reply.answer.strip(), reply.sources)
        if not reply.found or not text:
            return self.not_in_article()
        verdict = self._judge(text, ids)
        if not verdict.ok or not whole(text):
            metrics.LLM_REPAIRS.labels(kind="shape_retry").inc()
            why = verdict.reason if not verdict.ok else "it stops mid-sentence"
            log.info("follow-up answer rejected (%s): one corrective retry", why)
            lines = [problem(text, verdict)] if not verdict.ok else []
            if not whole(text):
                lines.append(f"- your answer «{text[-120:]}» stops mid-sentence.")
            note = load_prompt(RETRY_PROMPT_NAME).render(problems="\n".join(lines))
            try:
                more = followed_by(asked.messages, asked.text, note)
                again = (await call(self.llm, more, self.usage)).answer
            except (LLMError, ValidationError) as exc:
                log.info("follow-up corrective retry failed: %s", exc)
            else:
                text2, ids2 = split_citations(again.answer.strip(), again.sources)
                if not again.found or not text2:
                    return self.not_in_article()
                verdict2 = self._judge(text2, ids2)
                if whole(text2) or not whole(text):
                    text, verdict = text2, verdict2
        if not whole(text):
            metrics.LLM_REPAIRS.labels(kind="item_dropped").inc()
            log.info("follow-up answer (%s) cut off twice: the article's sentence", self.article_id)
            return self.article_sentence(text, verdict)
        if not verdict.ok:
            metrics.LLM_REPAIRS.labels(kind="unsupported_dropped").inc()
            log.info("follow-up answer (%s) shown unverified: %s", self.article_id, verdict.reason)
            return self._answer(text)
        if verdict.recited:
            metrics.LLM_REPAIRS.labels(kind="recited").inc()
        quote = evidence.quote(verdict.ids, self.sentences)
        return self._answer(text, quote=quote, sources=verdict.ids, verified=True)

    def article_sentence(self, text: str, verdict: Verdict) -> Answer:
        """An answer cut off twice is never shown: the article's own sentences it rests
        on (its citations, or where its words are found) take its place, with a note;
        with none, the request to ask again (not cached)."""
        ids = verdict.ids or evidence.anchor(text, self.sentences, same_language=self.same_language)
        quote = evidence.cited_text(ids, self.sentences) if ids else ""
        if not quote:
            return Answer(
                text=t(self.lang, "followup.incomplete"),
                path="unavailable",
                article_id=self.article_id,
                lang=self.lang,
            )
        return Answer(
            text=quote,
            sources=list(ids),
            verified=True,
            from_article=True,
            path="llm",
            article_id=self.article_id,
            lang=self.lang,
        )

    def _judge(self, text: str, ids: Sequence[int]) -> Verdict:
        return judge(text, ids, self.sentences, same_language=self.same_language)

    def _answer(
        self,
        text: str,
        *,
        quote: str | None = None,
        sources: list[int] | None = None,
        verified: bool = False,
    ) -> Answer:
        return Answer(
            text=text,
            quote=quote,
            sources=sources or [],
            verified=verified,
            path="llm",
            article_id=self.article_id,
            lang=self.lang,
        )

    def not_in_article(self) -> Answer:
        """The article does not say: exactly the catalog sentence."""
        return Answer(
            text=t(self.lang, "followup.not_in_article"),
            verified=True,
            not_in_article=True,
            path="llm",
            article_id=self.article_id,
            lang=self.lang,
        )
