"""Arabic and English function words, normalized like `tokens` (for matching only)."""

from __future__ import annotations

from functools import cache

from bot.ingest.arabic import tokens

_STOPWORDS_RAW = """
في من على إلى عن أن إن أنه إنه ما لا لم لن قد كان كانت يكون هذا هذه ذلك تلك التي الذي الذين
أو ثم حيث كما بعد قبل بين عند مع كل غير هو هي هم هما نحن أنا وقال وقالت قال قالت وأن ولا وفي
ومن وعلى وإلى منذ خلال حول أي أيضا إذا لكن وهو وهي فيه فيها به بها له لها عليه عليها إلا بعض
the a an of to in on for and or but is are was were be been being that this these those with
as by at from it its he she they we you his her their our not no has have had will would
can could said says also than then there which who whom what when where while about into
"""


@cache
def stopwords() -> frozenset[str]:
    """Normalized Arabic and English function words."""
    return frozenset(tokens(_STOPWORDS_RAW))
