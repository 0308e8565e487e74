"""Story clustering and ranking on built Arabic fixtures.

Syndicated copies of the seed article (the seed is itself a WordPress re-post) get new
headlines, site boilerplate and truncation; the "different stories" are other reports
on the same topic (Russia, Ukraine, the US and NATO) that share many words but are not
the same story. The threshold in bot.briefings.stories must separate the two groups.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.briefings.feeds import FeedArticle
from bot.briefings.stories import THRESHOLD, cluster, rank, similarity
from bot.ingest.extract import extract_text

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

SEED = extract_text((FIXTURES / "seed-article-ar.txt").read_text("utf-8")).text
PARAS = SEED.split("\n\n")

SYNDICATED = {
    "copy-agency": (
        "بايدن وبوتين يبحثان هاتفيا الأزمة الأوكرانية\n\nواشنطن - وكالات\n\n"
        + SEED
        + "\n\nاقرأ أيضا: أسعار النفط ترتفع مع تصاعد التوتر\n\nتابعونا على تويتر وفيسبوك"
        "\n\nجميع الحقوق محفوظة لموقع الخبر اليوم 2022"
    ),
    "copy-excerpt": (
        "اتصال نادر بين الرئيسين الأميركي والروسي\n\n"
        + "\n\n".join(PARAS[:4])
        + "\n\nللمزيد من التفاصيل تابع القراءة على موقعنا."
    ),
    "copy-navheader": (
        "الرئيسية أخبار عربية أخبار دولية اقتصاد رياضة فن ومشاهير تكنولوجيا صحة منوعات "
        "فيديو صور كتاب ومقالات اتصل بنا من نحن سياسة الخصوصية الأكثر قراءة اليوم "
        "آخر الأخبار عاجل النشرة البريدية اشترك الآن\n\n" + SEED
    ),
    "copy-edited": (
        SEED.replace("الأميركي", "الأمريكي")
        .replace("“", "")
        .replace("”", "")
        .replace("وأضاف", "وتابع")
        + "\n\nالمصدر: وكالة الصحافة الفرنسية"
    ),
}

DIFFERENT = {
    "geneva-talks": (
        "التقى وزير الخارجية الروسي سيرغي لافروف نظيره الأميركي أنتوني بلينكن في جنيف "
        "لإجراء محادثات أمنية استمرت نحو ساعتين، في محاولة لخفض التوتر حول أوكرانيا. "
        "وقال لافروف بعد الاجتماع إن موسكو تنتظر ردا مكتوبا على مطالبها بشأن ضمانات أمنية "
        "تتضمن وقف توسع حلف شمال الأطلسي شرقا. من جهته أكد بلينكن أن الولايات المتحدة "
        "مستعدة لمواصلة الدبلوماسية لكنها سترد بحزم إذا عبرت القوات الروسية الحدود. "
        "واتفق الجانبان على مواصلة الاتصالات خلال الأسبوع المقبل دون تحقيق اختراق."
    ),
    "nato-meeting": (
        "عقد مجلس حلف شمال الأطلسي اجتماعا في بروكسل لبحث الحشود العسكرية الروسية قرب "
        "حدود أوكرانيا. وقال الأمين العام للحلف ينس ستولتنبرغ إن الحلفاء مستعدون للحوار مع "
        "موسكو لكنهم لن يتنازلوا عن حق كل دولة في اختيار تحالفاتها. وأعلنت عدة دول أعضاء "
        "إرسال سفن وطائرات مقاتلة إضافية إلى أوروبا الشرقية لتعزيز دفاعات الحلف. "
        "وحذر ستولتنبرغ من أن أي هجوم روسي جديد على أوكرانيا ستكون له عواقب وخيمة."
    ),
    "zelensky-call": (
        "أجرى الرئيس الأوكراني فولوديمير زيلينسكي اتصالا هاتفيا مع الرئيس الأميركي جو بايدن "
        "بحثا خلاله التطورات على الحدود الشرقية لأوكرانيا. وقال زيلينسكي إن بايدن أكد دعم "
        "واشنطن الكامل لسيادة أوكرانيا ووحدة أراضيها، وإن الجانبين ناقشا الإصلاحات "
        "الاقتصادية والمساعدات العسكرية. وأضاف أن كييف تريد أن تشارك في أي محادثات "
        "تتعلق بمستقبلها بين روسيا والغرب، مؤكدا أن لا قرار بشأن أوكرانيا من دونها."
    ),
    "cnn-syria": (FIXTURES / "real" / "cnn-arabic-2013-syria.expected.txt").read_text("utf-8"),
}


def art(aid: str, text: str, source: str, hours_ago: float, title: str = "") -> FeedArticle:
    at = (NOW - timedelta(hours=hours_ago)).timestamp()
    return FeedArticle(
        id=aid,
        url=f"https://{source}.example/{aid}",
        title=title or text.split("\n", 1)[0][:80],
        text=text,
        source_id=source,
        source_name=source.title(),
        published=at,
        ingested=at,
    )


@pytest.mark.parametrize("name", sorted(SYNDICATED))
def test_syndicated_copies_are_similar_above_threshold(name: str) -> None:
    sim = similarity(SEED, SYNDICATED[name])
    assert sim >= THRESHOLD + 0.1, f"{name}: {sim:.2f}"


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_different_stories_on_the_same_topic_stay_below_threshold(name: str) -> None:
    assert similarity(SEED, DIFFERENT[name]) < THRESHOLD - 0.15
    for other in DIFFERENT:
        if other != name:
            assert similarity(DIFFERENT[name], DIFFERENT[other]) < THRESHOLD - 0.15


def test_cluster_merges_copies_across_outlets_and_keeps_others_apart() -> None:
    articles = [art("seed", SEED, "alpha", 5)]
    for i, (name, text) in enumerate(sorted(SYNDICATED.items())):
        articles.append(art(name, text, ["beta", "gamma", "delta", "beta"][i], 4 - i))
    for i, (name, text) in enumerate(sorted(DIFFERENT.items())):
        articles.append(art(name, text, "alpha", 2 + i * 0.1))
    stories = cluster(reversed(articles))  # input order does not matter
    assert len(stories) == 1 + len(DIFFERENT)
    merged = next(s for s in stories if len(s.articles) > 1)
    assert merged.id == "seed"  # earliest article names the story
    assert {a.id for a in merged.articles} == {"seed", *SYNDICATED}
    assert len(merged.source_ids) == 4
    assert [name for name, _ in merged.links()] == ["Alpha", "Beta", "Gamma", "Delta"]


def test_rank_prefers_more_sources_then_recency_within_window_and_sources() -> None:
    articles = [
        art("seed", SEED, "alpha", 10),
        art("copy", SYNDICATED["copy-agency"], "beta", 9),
        art("nato", DIFFERENT["nato-meeting"], "alpha", 1),
        art("geneva", DIFFERENT["geneva-talks"], "beta", 3),
        art("old", DIFFERENT["zelensky-call"], "alpha", 30),  # outside 24 h
    ]
    stories = cluster(articles)
    top = rank(stories, since=NOW - timedelta(hours=24), now=NOW)
    assert [s.id for s in top] == ["seed", "nato", "geneva"]
    # A subscriber whose only source is beta, last briefed 5 hours ago.
    mine = rank(stories, since=NOW - timedelta(hours=5), now=NOW, source_ids={"beta"})
    assert [s.id for s in mine] == ["geneva"]
    # Narrowed to one subscriber's sources, a story keeps its id (summary cache key).
    only_beta = rank(stories, since=NOW - timedelta(hours=24), now=NOW, source_ids={"beta"})
    narrowed = next(s for s in only_beta if s.id == "seed")
    assert [a.id for a in narrowed.articles] == ["copy"]
    assert rank(stories, since=NOW - timedelta(hours=24), now=NOW, limit=1)[0].id == "seed"


def test_long_briefing_splits_under_4096_with_keyboard_last() -> None:
    from datetime import date

    from bot.briefings.message import Briefing, BriefingItem, render_parts
    from bot.render import visible_length
    from tests.fakes.botapi import parse_html

    long = "تفاصيل <مهمة> & أرقام 2024 " * 60  # model text with markup-like characters
    items = [
        BriefingItem(f"s{i}", f"{i:020d}", f"عنوان {i}", [long, long], [("مصدر", "https://x/")])
        for i in range(5)
    ]
    parts = render_parts(Briefing(lang="ar", day=date(2026, 3, 2), items=items))
    assert len(parts) > 1
    for html, buttons in parts[:-1]:
        assert buttons == []
        assert visible_length(html) <= 4096
        parse_html(html)  # Telegram would accept it
    assert parts[-1][1][-1][0].callback == "bu"
    assert all(len((b.callback or "").encode()) <= 64 for row in parts[-1][1] for b in row)
