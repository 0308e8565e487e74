"""How a conversation is sent to a server whose chat template refuses its roles."""

from __future__ import annotations

from bot.llm.roles import Shape, server_name

SYSTEM = {"role": "system", "content": "rules"}
ARTICLE = {"role": "user", "content": "<article>\n[1] نص\n</article>"}
TASK = {"role": "user", "content": "the task"}
REPLY = {"role": "assistant", "content": "{}"}
FIX = {"role": "user", "content": "the correction"}
CONVERSATION = [SYSTEM, ARTICLE, TASK, REPLY, FIX]


def test_merged_turns_keep_the_article_first_and_join_by_a_blank_line() -> None:
    sent = Shape(merge=True).apply(CONVERSATION)
    assert sent == [
        SYSTEM,
        {"role": "user", "content": f"{ARTICLE['content']}\n\nthe task"},
        REPLY,
        FIX,
    ]
    assert CONVERSATION[1] == ARTICLE  # the caller's messages are left as they were


def test_a_folded_system_message_starts_the_first_user_message() -> None:
    sent = Shape(fold=True).apply(CONVERSATION)
    assert [m["role"] for m in sent] == ["user", "user", "assistant", "user"]
    assert sent[0]["content"] == f"rules\n\n{ARTICLE['content']}"
    both = Shape(merge=True, fold=True).apply(CONVERSATION)
    assert both[0]["content"] == f"rules\n\n{ARTICLE['content']}\n\nthe task"


def test_what_to_try_after_each_refusal() -> None:
    assert Shape().after("alternate", CONVERSATION) == Shape(merge=True)
    assert Shape().after("system", CONVERSATION) == Shape(fold=True)
    # nothing to merge, or merged and still refused: the system message counts as a turn
    assert Shape().after("alternate", [SYSTEM, ARTICLE]) == Shape(merge=True, fold=True)
    assert Shape(merge=True).after("alternate", CONVERSATION) == Shape(merge=True, fold=True)
    assert Shape(merge=True, fold=True).after("alternate", CONVERSATION) is None
    assert Shape(fold=True).after("system", CONVERSATION) is None


def test_the_logged_server_name_carries_no_credentials() -> None:
    assert server_name("https://user:sk-secret@llm.example:8443/v1/?key=sk-2") == (
        "llm.example:8443/v1/"
    )
