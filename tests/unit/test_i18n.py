import re
import string

from bot.i18n import catalog, lang_from_code, t


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_catalogs_have_same_keys_and_placeholders() -> None:
    ar, en = catalog("ar"), catalog("en")
    assert set(ar) == set(en), set(ar) ^ set(en)
    for key in en:
        assert _fields(ar[key]) == _fields(en[key]), key


def test_arabic_catalog_is_arabic() -> None:
    for key, value in catalog("ar").items():
        assert re.search(r"[\u0600-\u06FF]", value), f"{key} has no Arabic text"


def test_language_from_telegram_code() -> None:
    assert lang_from_code("ar-EG") == "ar"
    assert lang_from_code("en") == "en"
    assert lang_from_code(None) == "en"
    assert t("ar", "error.rate_limited", seconds=5).count("5") == 1
