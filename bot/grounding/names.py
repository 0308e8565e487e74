"""Names in an English claim about an Arabic text, matched by their consonant skeleton.

An English sentence about an Arabic article cannot be compared word by word, but its
names can: "Suleiman" and "سليمان", "Biden" and "بايدن", "Kremlin" and "الكرملين" share
their consonants once vowels (and the Arabic long vowels and hamza seats) are dropped
and similar sounds are merged. A name in the claim with no such match in the source is
one the model brought in: the real 1.5B model "translated" an article about Hani
Suleiman into "Hassan Suleiman ... killed by a US drone". Names whose Arabic form
shares nothing with the English one (Egypt / مصر) come from `EXONYMS`; capitalized
common words (titles, institutions, months) are not names (`COMMON`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

from bot.ingest.arabic import normalize_for_match

# Latin letters to sound classes; vowels (and y, w, h at the end) are dropped
_LATIN = str.maketrans(
    {"p": "b", "v": "f", "c": "k", "q": "k", "g": "j", "x": "ks", "z": "s", "e": None}
)
_LATIN_VOWELS = re.compile(r"[aeiouyw]")
_DIGRAPHS = (
    ("sh", "S"),
    ("kh", "K"),
    ("th", "t"),
    ("dh", "d"),
    ("gh", "j"),
    ("ph", "f"),
    ("ck", "k"),
)
_ARABIC = {
    "ب": "b", "ت": "t", "ث": "t", "ج": "j", "ح": "h", "خ": "K", "د": "d", "ذ": "d",
    "ر": "r", "ز": "s", "س": "s", "ش": "S", "ص": "s", "ض": "d", "ط": "t", "ظ": "s",
    "غ": "j", "ف": "f", "ق": "k", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
    "پ": "b", "چ": "j", "گ": "j", "ڤ": "f",
}  # fmt: skip
_NAME = re.compile(r"(?<![\w'])([A-Z][a-zA-Z'’\-]+)")
_SUFFIXES = ("ians", "ian", "ans", "an", "ese", "ish", "is", "i", "'s", "’s", "s")

EXONYMS: dict[str, tuple[str, ...]] = {
    "egypt": ("مصر",),
    "morocco": ("المغرب",),
    "algeria": ("الجزائر",),
    "germany": ("المانيا",),
    "greece": ("اليونان",),
    "japan": ("اليابان",),
    "china": ("الصين",),
    "india": ("الهند",),
    "netherlands": ("هولندا",),
    "switzerland": ("سويسرا",),
    "palestine": ("فلسطين",),
    "jerusalem": ("القدس",),
    "gaza": ("غزه",),
    "mecca": ("مكه",),
    "europe": ("اوروب",),
    "africa": ("افريقي",),
    "asia": ("اسيا", "اسيوي"),
    "america": ("امريكا", "اميركا"),
    "americ": ("امريك", "اميرك"),  # American(s)
    "us": ("امريك", "اميرك", "الولايات المتحده", "واشنطن"),
    "usa": ("امريك", "اميرك", "الولايات المتحده"),
    "uk": ("بريطانيا", "المملكه المتحده"),
    "uae": ("الامارات", "الاماره"),
    "ksa": ("السعوديه",),
    "isis": ("داعش", "الدوله الاسلاميه"),
    "britain": ("بريطانيا",),
    "eu": ("الاتحاد الاوروبي", "اوروبا"),
    "un": ("الامم المتحده",),
    "nato": ("الناتو", "حلف شمال الاطلسي", "الاطلسي"),
    "covid": ("كورونا", "كوفيد"),
    "coronavirus": ("كورونا",),
    "cern": ("سيرن", "المنظمه الاوروبيه للابحاث النوويه"),
    "shiite": ("شيع",),
    "shia": ("شيع",),
    "sunni": ("سني", "السنه"),
    "english": ("انجليز", "انكليز"),
    # name parts whose English form carries the next word's article: عبد الفتاح is
    # "Abdul Fattah", "Abdel Fattah" or "Abd al-Fattah"
    "abdul": ("عبد ال",),
    "abdel": ("عبد ال",),
    "abdal": ("عبد ال",),
    "abd": ("عبد",),
}
# the Arabic article written before a hyphen ("Al-Assad", "el-Sisi"): not sounded alone
_ARTICLES = frozenset({"al", "el", "ad", "ar", "as", "at", "an", "ash", "az", "ud", "ul"})

_COMMON_WORDS = """
the a an in on at of and but or for to from by with as it its he she they we this that
these those his her their our my your after before during while when where why how what
who which there here then also however meanwhile according today yesterday tomorrow
mr mrs ms dr sheikh king queen prince princess president vice prime minister ministers
deputy foreign interior defense defence health finance economy affairs ministry ministries
secretary general spokesman spokeswoman spokesperson official officials chief head leader
supreme army forces force military guard guards revolutionary police security council
parliament assembly senate congress court government state states united nations union
republic kingdom emirates league arab arabic islamic international national federal
central bank agency news university center centre institute organization organisation
committee office authority department company group party movement front foundation
white house palace north south east west middle eastern western northern southern gulf
sea ocean red city street square airport station hospital school mosque church
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday new old world day year week
festival prize award cup olympic games film films museum theater theatre
european asian african nuclear atomic research science sciences scientific energy
physics human rights economic forum public prosecution prosecutor civil
crescent cross coronavirus pandemic virus gmt utc am pm covid
water resources irrigation faculty engineering college dean director manager
laboratory spring free alliance coalition opposition youth revolution revolutionary
liberation democratic popular people observatory brigade brigades battalion battalions
"""
COMMON = frozenset(_COMMON_WORDS.split())


def _latin_skeleton(word: str) -> str:
    w = word.lower()
    for a, b in _DIGRAPHS:
        w = w.replace(a, b)
    w = w.translate(_LATIN)
    return _skeleton(_LATIN_VOWELS.sub("", w))


@lru_cache(maxsize=8192)
def _arabic_sounds(word: str) -> str:
    w = re.sub(r"^(?:وال|بال|فال|كال|لل|ال)(?=..)", "", word)
    return "".join(_ARABIC.get(ch, "") for ch in w)


def _skeleton(sounds: str) -> str:
    """The sounds as compared, the same for both scripts: doubled sounds merged, a weak h
    dropped from longer names, merged again ("Mohamed" and محمد are both "md",
    "Hossam" and حسام both "hsm")."""
    out = re.sub(r"(.)\1+", r"\1", sounds)
    out = out.replace("h", "") if len(out) > 3 else out
    return re.sub(r"(.)\1+", r"\1", out)


def _arabic_skeleton(word: str) -> str:
    return _skeleton(_arabic_sounds(word))


def _distance_ok(a: str, b: str) -> bool:
    """Equal skeletons, or one edit apart when both have four or more sounds."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 1


def claim_names(claim: str) -> list[str]:
    """The capitalized words of `claim` that may be names (not its first word, and not
    a common word)."""
    out = []
    for m in _NAME.finditer(claim):
        if m.start() == 0:
            continue
        # hyphenated: each capitalized part alone, the article of "Al-Assad" left out
        for word in m.group(1).strip("'’-").split("-"):
            word = word.strip("'’")
            if len(word) < 3 or not word[0].isupper() or word.lower() in _ARTICLES:
                continue
            if any(form in COMMON for form in _forms(word)):  # "Arabian": arab
                continue
            out.append(word)
    return out


def _forms(name: str) -> list[str]:
    low = name.lower()
    forms = [low]
    for suffix in _SUFFIXES:
        if low.endswith(suffix) and len(low) - len(suffix) >= 3:
            forms.append(low[: -len(suffix)])
    return forms


def unmatched_names(claim: str, source: str) -> list[str]:
    """Names in the English `claim` with no counterpart in the Arabic `source`."""
    norm = normalize_for_match(source)
    words = norm.split()
    skeletons = {_arabic_skeleton(w) for w in words}
    # a one-letter prefix (و ب ل ف ك: "بجنيف" for Geneva)
    skeletons |= {_arabic_skeleton(w[1:]) for w in words if w[:1] in "وبلفك" and len(w) > 3}
    # a final ta marbuta (ة, matched as ه) is not sounded in English: الروسية / Russian
    bare = [w.rstrip(".,،؛:!?؟\"'»”)") for w in words]
    skeletons |= {_arabic_skeleton(w[:-1]) for w in bare if w.endswith("ه") and len(w) > 3}
    skeletons.discard("")
    # names written as two words ("فخري زادة" for Fakhrizadeh): exact matches only, a
    # near match of two joined words is too easy to hit by chance
    pairs = {_skeleton(_arabic_sounds(a) + _arabic_sounds(b)) for a, b in pairwise(words)}
    latin = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'’\-]+", source)}
    missing = []
    for name in claim_names(claim):
        if name.lower() in latin:  # written in Latin letters in the source too: "CNN"
            continue
        forms = _forms(name)
        if any(e in norm for f in forms for e in EXONYMS.get(f, ())):
            continue
        wanted = {_latin_skeleton(f) for f in forms}
        if wanted & pairs or any(_distance_ok(w, s) for w in wanted if w for s in skeletons):
            continue
        missing.append(name)
    return missing
