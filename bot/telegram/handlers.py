"""Thin Telegram handlers: Update -> Incoming -> Conversation, and a Telegram Outbox.

`TelegramOutbox` shows that the bot is working and the reply being written, then turns
each `Reply` into messages: split at 4096 visible characters with the keyboard on the
last part, link previews off.

* In a private chat, with drafts (Bot API `sendMessageDraft`): an empty draft (Telegram's
  "Thinking…") or the stage line, then the reply growing in the draft (`DraftStream`,
  paced by what the eye needs, refreshed while the model pauses), then one
  `sendMessage` with the finished reply: the user's notification shows the reply
  itself, and the chat keeps no edited message. A server or chat that refuses drafts
  (bot/telegram/drafts.py) goes back to edits, remembered; a 429 on a draft only delays
  the next draft.
* In groups and channels (and where drafts are refused): the "typing" action and one
  "⏳" placeholder that progress edits (and `live` edits into the reply being written,
  throttled by the chat's edit limit), edited into the reply's first part.

A reply Telegram rejects as bad HTML is re-sent as plain text. A button press is
answered (answerCallbackQuery) once: with the `toast` the conversation gives (a stale
or refused button: a notice only the presser sees), else empty before the first reply,
or at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from telegram import CallbackQuery, LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.clock import Clock, SystemClock
from bot.logs import update_id_var, user_id_var
from bot.messages import Reply
from bot.privacy import forget_user
from bot.render import TELEGRAM_LIMIT, escape, html_to_plain, split_html, visible_length
from bot.telegram.chats import migration, on_migrated, on_my_chat_member
from bot.telegram.context import Context
from bot.telegram.documents import with_document
from bot.telegram.drafts import refusal, support_for
from bot.telegram.incoming import to_incoming
from bot.telegram.inline import answer_inline
from bot.telegram.keyboards import keyboard
from bot.telegram.live import (
    GROUP_INTERVAL,
    PRIVATE_INTERVAL,
    Backoff,
    DraftStream,
    KeepTyping,
    LiveMessage,
    StopDrafts,
)
from bot.telegram.sender import retry_seconds

if TYPE_CHECKING:
    from telegram import Bot


log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Bot API answers after which we send a new message instead of editing
_CANNOT_EDIT = ("message to edit not found", "can't be edited", "no text in the message")


# --- Telegram Outbox ---------------------------------------------------------------


class TelegramOutbox:
    """Delivers one conversation turn's replies to one chat."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        reply_to: int | None = None,
        clock: Clock | None = None,
        group: bool = False,
        private: bool = False,
        callback_query: CallbackQuery | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.callback_query = callback_query  # the button press being handled, unanswered
        self.reply_to = reply_to  # in groups, answer as a reply to the user's message
        self.placeholder: int | None = None
        self.placeholder_text = ""
        self._placeholder_lock = asyncio.Lock()  # one placeholder, even after a fallback
        self._live_reply_to: int | None = None
        clock = clock or SystemClock()
        interval = GROUP_INTERVAL if group else PRIVATE_INTERVAL
        self.live_message = LiveMessage(self._live_edit, clock, interval=interval, chat_id=chat_id)
        self.typing_action = KeepTyping(self._typing_once)
        self.blocked: Forbidden | None = None  # a 403 met while showing progress
        # drafts: private chats only, unless this server or chat refused them before
        self.drafts = support_for(bot.base_url)
        self.draft_id = secrets.randbelow(2**31 - 1) + 1  # non-zero; one per turn
        self.draft: DraftStream | None = None
        if private and not group and self.drafts.allows(chat_id):
            self.draft = DraftStream(self._send_draft, clock, chat_id=chat_id)
        self.drafting = self.draft is not None  # False again after a refusal

    async def typing(self) -> None:
        """An empty draft (Telegram's "Thinking…") in a private chat, else the "typing"
        action, repeated until the reply is sent (it lasts 5 s)."""
        await self._answer_button()
        if self.drafting and self.draft is not None and not self.drafts.empty_refused:
            if self.draft.latest is None:
                self.draft.show("")
            return
        await self.typing_action.start()

    async def toast(self, text: str) -> None:
        """Answer the button press with `text` (at most 200 characters; no button press:
        nothing to answer)."""
        await self._answer_button(text[:200])

    async def _answer_button(self, text: str | None = None) -> None:
        """Answer the button press being handled, once (Telegram shows a spinner on the
        button until then)."""
        query, self.callback_query = self.callback_query, None
        if query is not None:
            with contextlib.suppress(TelegramError):
                await query.answer(text)

    async def _typing_once(self) -> None:
        with contextlib.suppress(TelegramError):
            await self.bot.send_chat_action(self.chat_id, ChatAction.TYPING)

    async def live(self, html: str, *, reply_to: int | None = None) -> None:
        """Show `html` (a digest or answer being written) in the draft, or the
        placeholder, paced. A 403 is kept for `send` to raise; other Telegram errors
        only skip this view."""
        if visible_length(html) > TELEGRAM_LIMIT:
            return  # a long digest shows whole (and split) in the final reply
        await self._answer_button()
        self._live_reply_to = reply_to or self.reply_to
        if self.drafting and self.draft is not None:
            self.draft.show(html)
            return
        if self.blocked is None:
            await self._show_by_edit(html)

    async def _show_by_edit(self, html: str, *, stage: bool = False) -> None:
        """Today's way: post the placeholder (as a reply to the reply being written's
        `reply_to`), then edit it (a stage at once, a reply being written paced)."""
        try:
            async with self._placeholder_lock:
                if self.placeholder is None:
                    reply_to = self.reply_to if stage else self._live_reply_to
                    sent = await self._send(html, None, reply_to=reply_to)
                    self.placeholder, self.placeholder_text = sent.message_id, html
                    return
            if not stage:
                self.live_message.show(html)
            elif html != self.placeholder_text:
                with contextlib.suppress(BadRequest):
                    await self._edit(self.placeholder, html, None)
                    self.placeholder_text = html
        except Forbidden as exc:
            if stage:
                raise  # blocked: stop the work now (the error handler forgets the user)
            self.blocked = exc
        except TelegramError as exc:
            if stage:
                raise
            log.warning("could not show the reply being written: %s", exc)

    async def _send_draft(self, html: str) -> None:
        """One sendMessageDraft (DraftStream's sender): a 429 delays the next draft
        (never an edit or a message instead: they would fall in the same flood window);
        a refusal goes back to the placeholder and edits, from this text on."""
        try:  # (the rate limiter never retries a draft: bot/telegram/ratelimit.py)
            await self.bot.send_message_draft(
                self.chat_id, self.draft_id, html, parse_mode=ParseMode.HTML
            )
            return
        except Forbidden as exc:
            self.blocked = exc
            raise StopDrafts from None
        except RetryAfter as exc:
            raise Backoff(retry_seconds(exc)) from None
        except TelegramError as exc:
            kind = refusal(exc)
            if kind == "html":  # ours to fix: show the words at least
                log.warning("Telegram rejected our draft HTML (%s); plain text", exc.message)
                plain = html_to_plain(html)
                await self.bot.send_message_draft(self.chat_id, self.draft_id, plain)
                return
            if kind == "empty" and not html:  # an older server: no "Thinking…"
                self.drafts.empty_refused = True
                await self.typing_action.start()
                return
            if kind not in ("server", "chat"):
                raise
            log.warning("drafts refused (%s), back to edits: %s", kind, exc.message)
            if kind == "server":
                self.drafts.server_refuses = True
            else:
                self.drafts.refused_chats.add(self.chat_id)
        self.drafting = False
        try:
            await self.typing_action.start()
            if html:
                await self._show_by_edit(html, stage=self._live_reply_to is None)
        except Forbidden as exc:
            self.blocked = exc
        except TelegramError as exc:
            log.warning("could not show the reply being written: %s", exc)
        raise StopDrafts

    async def _live_edit(self, html: str) -> None:
        if self.placeholder is not None:
            try:
                await self._edit(self.placeholder, html, None)
                self.placeholder_text = html
            except Forbidden as exc:
                self.blocked = exc

    async def _stop_live(self) -> None:
        """End the draft, the live edits and the typing (a draft or an edit in flight
        lands first); raise a 403 met on the way (blocked)."""
        if self.draft is not None:
            await self.draft.close()
        await self.live_message.close()
        self.typing_action.stop()
        if self.blocked is not None:
            raise self.blocked

    async def progress(self, text: str) -> None:
        await self._answer_button()
        html = escape(text)
        if self.blocked is not None:  # met on a draft: stop the work now, as below
            raise self.blocked
        if self.drafting and self.draft is not None:
            self.draft.show(html)
            return
        await self._show_by_edit(html, stage=True)

    async def send(self, reply: Reply) -> list[int]:
        await self._answer_button()
        await self._stop_live()
        parts = split_html(reply.html)
        markup = keyboard(reply.buttons)
        preview = NO_PREVIEW if reply.disable_preview else None
        ids: list[int] = []
        reply_to = reply.reply_to_message_id or self.reply_to
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            part_markup = markup if last else None
            target = None
            if i == 0:
                target = reply.edit_message_id
                if target is None and reply.edit_placeholder:
                    target = self.placeholder
            if target is not None and reply.photo is None:
                sent = await self._edit(target, part, part_markup, preview)
                if target == self.placeholder:
                    self.placeholder = None
            elif reply.photo is not None and i == 0:
                sent = await self._photo(reply.photo, part, part_markup, reply_to)
            else:
                sent = await self._send(part, part_markup, preview, reply_to=reply_to)
            if sent is not None:
                ids.append(sent.message_id)
        return ids

    async def finish(self) -> None:
        """Answer a button press nothing answered; remove a placeholder that no reply
        replaced."""
        await self._answer_button()
        with contextlib.suppress(Forbidden):
            await self._stop_live()
        if self.placeholder is not None:
            with contextlib.suppress(TelegramError):
                await self.bot.delete_message(self.chat_id, self.placeholder)
            self.placeholder = None

    # --- Bot API calls with the plain-text fallback -----------------------------------
    async def _send(
        self,
        html: str,
        markup: Any,
        preview: LinkPreviewOptions | None = NO_PREVIEW,
        *,
        reply_to: int | None = None,
    ) -> Message:
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            return await self.bot.send_message(
                self.chat_id,
                html,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=preview,
                reply_parameters=params,
            )
        except BadRequest as exc:
            if not _is_parse_error(exc):
                raise
            log.warning("Telegram rejected our HTML (%s); re-sending as plain text", exc.message)
            return await self.bot.send_message(
                self.chat_id,
                html_to_plain(html),
                reply_markup=markup,
                link_preview_options=preview,
                reply_parameters=params,
            )

    async def _edit(
        self,
        message_id: int,
        html: str,
        markup: Any,
        preview: LinkPreviewOptions | None = NO_PREVIEW,
    ) -> Message | None:
        try:
            result = await self.bot.edit_message_text(
                html,
                chat_id=self.chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=preview,
            )
        except BadRequest as exc:
            text = exc.message.lower()
            if "not modified" in text:
                return None
            if any(why in text for why in _CANNOT_EDIT):
                return await self._send(html, markup, preview)
            if not _is_parse_error(exc):
                raise
            log.warning("Telegram rejected our HTML (%s); editing as plain text", exc.message)
            result = await self.bot.edit_message_text(
                html_to_plain(html),
                chat_id=self.chat_id,
                message_id=message_id,
                reply_markup=markup,
                link_preview_options=preview,
            )
        return result if isinstance(result, Message) else None

    async def _photo(self, photo: bytes, html: str, markup: Any, reply_to: int | None) -> Message:
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            return await self.bot.send_photo(
                self.chat_id,
                photo,
                caption=html,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=params,
            )
        except BadRequest as exc:
            if not _is_parse_error(exc):
                raise
            log.warning(
                "Telegram rejected our caption HTML (%s); re-sending as plain text", exc.message
            )
            return await self.bot.send_photo(
                self.chat_id,
                photo,
                caption=html_to_plain(html),
                reply_markup=markup,
                reply_parameters=params,
            )


def _is_parse_error(exc: BadRequest) -> bool:
    text = exc.message.lower()
    return "can't parse entities" in text or "unsupported start tag" in text


# --- PTB callbacks ----------------------------------------------------------------------


@contextlib.contextmanager
def _log_context(update: object) -> Iterator[None]:
    """Stamp every log line written while handling `update` with its update id and
    user id (bot.logs contextvars), in both modes, and restore them after."""
    update_id = update.update_id if isinstance(update, Update) else None
    user = update.effective_user if isinstance(update, Update) else None
    t1 = update_id_var.set(update_id)
    t2 = user_id_var.set(user.id if user is not None else None)
    try:
        yield
    finally:
        update_id_var.reset(t1)
        user_id_var.reset(t2)


async def on_update(update: Update, context: Context) -> None:
    """The one handler: every update goes to the Conversation."""
    with _log_context(update):
        await _handle(update, context)


async def _handle(update: Update, context: Context) -> None:
    conv = context.bot_data.conv
    bot = context.bot
    if update.my_chat_member is not None:
        await on_my_chat_member(update.my_chat_member, conv.services.store)
        return
    if update.inline_query is not None:
        await answer_inline(update.inline_query, conv, bot.username)
        return
    moved = migration(update.message)
    if moved is not None:
        await on_migrated(*moved, conv.services)
        return
    incoming = with_document(update, bot, to_incoming(update, bot.id, bot.username))
    if incoming is None:
        return
    # in groups, and for an edit (an older message), answer as a reply to the message
    edit = incoming.edited_at is not None
    reply_to = incoming.message_id if incoming.chat_type == "group" or edit else None
    out = TelegramOutbox(
        bot,
        incoming.chat_id,
        reply_to=reply_to,
        clock=conv.services.clock,
        group=incoming.chat_type != "private",  # channels share the group limit
        private=incoming.chat_type == "private",  # drafts
        callback_query=update.callback_query,
    )
    try:
        await conv.handle(incoming, out)
    finally:
        await out.finish()


async def on_error(update: object, context: Context) -> None:
    """The global error handler: log with the update id, tell the user, never raise.

    A 403 in a private chat means the user blocked the bot: everything stored about
    them is deleted (bot.privacy.forget_user), as after a 403 on a briefing."""
    with _log_context(update):
        await _on_error(update, context)


async def _on_error(update: object, context: Context) -> None:
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        log.info("update %s: the user blocked the bot or left (%s)", update_id, error)
        await _forget_blocked(update, context)
        return
    log.error("update %s failed", update_id, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    conv = context.bot_data.conv
    incoming = None
    with contextlib.suppress(Exception):
        incoming = to_incoming(update, context.bot.id, context.bot.username)
    text = await conv.internal_error_text(incoming)
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(
            update.effective_chat.id, escape(text), parse_mode=ParseMode.HTML
        )


async def _forget_blocked(update: object, context: Context) -> None:
    """After a 403 in a user's private chat, delete their data (groups are shared: a
    403 there means the bot was removed, and the members' data stays; the group's own
    subscription and settings go)."""
    if not isinstance(update, Update):
        return
    chat, user = update.effective_chat, update.effective_user
    if chat is not None and chat.type != "private":
        store = context.bot_data.conv.services.store
        with contextlib.suppress(Exception):  # the error handler must never raise
            await forget_user(store, chat.id, private_chat_id=chat.id)
        return
    if chat is None or user is None or chat.type != "private":
        return
    conv = context.bot_data.conv
    try:
        await forget_user(conv.services.store, user.id, private_chat_id=chat.id)
    except Exception:  # the error handler must never raise
        log.exception("could not forget blocked user %s", user.id)
