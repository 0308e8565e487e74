"""Story memory (issue 23): which of today's stories a reader was told, and whether
today's articles add anything to it."""

from __future__ import annotations

import pytest

from bot.briefings.feeds import FeedArticle
from bot.briefings.memory import ToldItem, ToldStory, lead_terms, novelty
from bot.briefings.stories import Story
from bot.briefings.updates import UpdateSummary, headline_for, new_points, restates
from tests.unit.test_stories import DIFFERENT, SYNDICATED

# A developing story: day 1, and day 2's article with a new toll (and yesterday's as
# background, as news agencies write it).
DAY1_TITLE = "مقتل 45 في قصف على مخيم جباليا"
DAY1 = (
    "أعلنت وزارة الصحة في قطاع غزة صباح الاثنين مقتل 45 شخصاً في قصف استهدف مخيم جباليا"
    " شمال القطاع. وقالت الوزارة إن فرق الإسعاف نقلت عشرات الجرحى إلى مستشفى الشفاء.\n\n"
    "وأضاف المتحدث باسم الدفاع المدني أن القصف دمر ثلاثة مبانٍ سكنية في المخيم. ودعت"
    " الأمم المتحدة إلى تحقيق مستقل في الهجوم على المخيم المكتظ بالنازحين."
)
DAY2_TITLE = "ارتفاع حصيلة قصف جباليا إلى 63 قتيلاً"
DAY2 = (
    "ارتفعت حصيلة القصف على مخيم جباليا شمال قطاع غزة إلى 63 قتيلاً، بحسب وزارة الصحة في"
    " القطاع. وقالت الوزارة إن فرق الإنقاذ انتشلت جثثاً جديدة من تحت أنقاض المباني السكنية.\n\n"
    "وكانت الوزارة قد أعلنت الاثنين مقتل 45 شخصاً في القصف الذي استهدف المخيم المكتظ"
    " بالنازحين. وطالبت الأمم المتحدة مجدداً بتحقيق مستقل في الهجوم."
)
# the next day, another outlet re-posts day 2's article under its own headline
REPOST_TITLE = "حصيلة جديدة لقصف مخيم جباليا"
REPOST = "تابعونا على وسائل التواصل الاجتماعي.\n\n" + DAY2


def article(aid: str, title: str, text: str, source: str = "s1") -> FeedArticle:
    return FeedArticle(
        id=aid,
        url=f"http://news.example/{aid}",
        title=title,
        text=text,
        source_id=source,
        source_name=source,
        published=0.0,
        ingested=0.0,
    )


def story(*articles: FeedArticle) -> Story:
    return Story(articles=list(articles))


def told(s: Story) -> ToldStory:
    return ToldStory.from_json(ToldStory.of(s).to_json())  # as read back from Redis


def test_the_next_days_article_of_a_developing_story_is_the_same_story_with_news() -> None:
    day1 = told(story(article("a1", DAY1_TITLE, DAY1)))
    today = story(article("a2", DAY2_TITLE, DAY2, source="s2"))
    assert day1.matches(today, lead_terms(today.lead))
    new = novelty(today, [day1])
    assert new.anything and "63" in new.numbers and "45" not in new.numbers


def test_a_repost_of_what_was_told_is_the_same_story_with_nothing_new() -> None:
    day2 = told(story(article("a2", DAY2_TITLE, DAY2)))
    repost = story(article("r1", REPOST_TITLE, REPOST, source="s3"))
    assert day2.matches(repost, lead_terms(repost.lead))
    assert not novelty(repost, [day2]).anything
    # the same article under a new id (a feed that re-publishes) carries nothing either
    again = story(article("a2-again", DAY2_TITLE, DAY2))
    assert day2.matches(again, lead_terms(again.lead)) and not novelty(again, [day2]).anything


@pytest.mark.parametrize("copy", sorted(SYNDICATED))
def test_syndicated_copies_match_the_story_they_copy(copy: str) -> None:
    seed = told(story(article("seed", "بايدن وبوتين", SYNDICATED["copy-agency"])))
    other = story(article("c", "اتصال", SYNDICATED[copy], source="s9"))
    assert seed.matches(other, lead_terms(other.lead))


@pytest.mark.parametrize(
    ("a", "b"),
    [(a, b) for a in sorted(DIFFERENT) for b in sorted(DIFFERENT) if a < b]
    + [("copy-agency", b) for b in sorted(DIFFERENT)],
)
def test_different_stories_on_one_topic_are_not_taken_for_each_other(a: str, b: str) -> None:
    texts = {**DIFFERENT, **SYNDICATED}
    first = told(story(article("x", a, texts[a])))
    second = story(article("y", b, texts[b], source="s2"))
    assert not first.matches(second, lead_terms(second.lead))


def test_update_points_already_told_are_dropped_and_a_restated_headline_replaced() -> None:
    told_items = [
        ToldItem("ar", DAY1_TITLE, ("أعلنت وزارة الصحة مقتل 45 شخصاً في قصف مخيم جباليا.",))
    ]
    update = UpdateSummary(
        headline=DAY1_TITLE,  # a lazy model restates yesterday's headline as news
        points=[
            "أعلنت وزارة الصحة مقتل 45 شخصاً في قصف مخيم جباليا.",
            "ارتفعت حصيلة القصف على مخيم جباليا إلى 63 قتيلاً.",
        ],
        lang="ar",
    )
    points = new_points(update, told_items)
    assert points == ["ارتفعت حصيلة القصف على مخيم جباليا إلى 63 قتيلاً."]
    assert headline_for(update, points, told_items, DAY2_TITLE) == DAY2_TITLE
    assert headline_for(update, points, told_items, DAY1_TITLE) == points[0]
    assert not restates("فرق الإنقاذ انتشلت جثثاً جديدة من تحت الأنقاض.", told_items, "ar")
