"""Topics a reader follows or mutes (issue 23): Arabic-aware matching without a model."""

from __future__ import annotations

import pytest

from bot.briefings.stories import Story
from bot.briefings.topics import Topics, apply, check_topic, story_words
from bot.errors import BadTopic, TopicTooLong
from tests.unit.test_memory import article

GAZA = "وقالت وزارة الصحة إن القصف على مخيم جباليا أوقع عشرات القتلى في غزة."
ELECTIONS = "أعلنت اللجنة العليا للانتخابات النتائج الأولية للاقتراع في العراق."
FOOTBALL = "The football league resumes on Saturday after the winter break."


def s(sid: str, text: str) -> Story:
    return Story(articles=[article(sid, "", text)], sid=sid)


@pytest.mark.parametrize(
    ("topic", "text"),
    [
        ("غزة", "القصف على غزة"),  # plain
        ("غزه", "القصف على غزة"),  # ة / ه
        ("غزة", "وغزة تحت القصف"),  # و prefix
        ("غزة", "المساعدات لغزة"),  # ل prefix
        ("غزة", "في بغزة"),  # ب prefix
        ("غزة", "فغزة"),  # ف prefix
        ("الانتخابات", "نتائج انتخابات البلدية"),  # with ال, text without
        ("انتخابات", "أعلنت لجنة الانتخابات"),  # without ال, text with
        ("الانتخابات", "وبالانتخابات القادمة"),  # وبال
        ("أوكرانيا", "الحرب في اوكرانيا"),  # hamza unified
        ("مُخَيَّم جباليا", "القصف على مخيم جباليا"),  # tashkeel ignored, both words needed
        ("elections", "The Election commission"),  # case, plural
    ],
)
def test_a_topic_matches_arabic_forms_of_its_words(topic: str, text: str) -> None:
    assert Topics(follow=(topic,)).followed(story_words(s("x", text)))


@pytest.mark.parametrize(
    ("topic", "text"),
    [
        ("غزة", "عزة النفس"),  # one letter apart
        ("مخيم جباليا", "مخيم النصيرات"),  # every word must be there
        ("الحرب", "حربة"),  # not a prefix match
        ("elections", "selection"),
    ],
)
def test_a_topic_does_not_match_other_words(topic: str, text: str) -> None:
    assert not Topics(follow=(topic,)).followed(story_words(s("x", text)))


def test_followed_stories_rank_first_and_muted_ones_are_left_out() -> None:
    stories = [s("sport", FOOTBALL), s("iraq", ELECTIONS), s("gaza", GAZA)]
    topics = Topics(follow=("غزة",), mute=("football",))
    assert [x.id for x in apply(stories, topics, {})] == ["gaza", "iraq"]
    assert [x.id for x in apply(stories, Topics(), {})] == ["sport", "iraq", "gaza"]


def test_a_topic_needs_words_and_a_reasonable_length() -> None:
    assert check_topic("  الانتخابات   العراقية ") == "الانتخابات العراقية"
    with pytest.raises(BadTopic):
        check_topic("!!! ...")
    with pytest.raises(TopicTooLong):
        check_topic("كلمة " * 20)
