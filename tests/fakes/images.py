"""Pictures of text for the OCR tests and benchmarks, drawn with Pillow.

Pillow's Raqm layout (HarfBuzz + FriBidi, in the official wheels) shapes Arabic and
orders right-to-left lines itself; without it the text is shaped with arabic-reshaper
and put in visual order with python-bidi, as an old renderer would.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFilter, ImageFont, features

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
RAQM = features.check("raqm")


def _visual(text: str) -> str:
    if RAQM:
        return text
    import arabic_reshaper
    from bidi.algorithm import get_display

    return str(get_display(arabic_reshaper.reshape(text)))


def render_text(
    text: str,
    *,
    font: str = FONT,
    size: int = 22,
    width: int = 900,
    rtl: bool = True,
    columns: int = 1,
) -> Image.Image:
    """`text` (paragraphs on their own lines) drawn black on white, right-aligned for
    Arabic, wrapped to `width` px; with `columns` = 2 the paragraphs are split into a
    right column (read first when `rtl`) and a left one."""
    face = ImageFont.truetype(
        font, size, layout_engine=ImageFont.Layout.RAQM if RAQM else ImageFont.Layout.BASIC
    )
    kw: dict[str, str] = {"direction": "rtl" if rtl else "ltr"} if RAQM else {}
    gutter = 40
    col_width = (width - gutter * (columns - 1)) // columns
    paras = [p for p in text.split("\n") if p.strip()]
    per = -(-len(paras) // columns)
    blocks = [paras[i * per : (i + 1) * per] for i in range(columns)]
    laid: list[list[str]] = []
    for block in blocks:
        lines: list[str] = []
        for para in block:
            cur: list[str] = []
            for word in para.split():
                trial = " ".join([*cur, word])
                if cur and face.getlength(_visual(trial), **kw) > col_width - 30:
                    lines.append(" ".join(cur))
                    cur = [word]
                else:
                    cur.append(word)
            lines.append(" ".join(cur))
            lines.append("")
        laid.append(lines)
    step = int(size * 1.6)
    img = Image.new("L", (width, step * max(len(x) for x in laid) + 40), 255)
    draw = ImageDraw.Draw(img)
    for c, lines in enumerate(laid):
        index = columns - 1 - c if rtl else c
        left = index * (col_width + gutter) + 15
        right = left + col_width - 15
        y = 20
        for line in lines:
            shown = _visual(line)
            w = face.getlength(shown, **kw)
            x = right - w if rtl else left
            draw.text((x, y), shown, font=face, fill=0, **kw)
            y += step
    return img


def photographed(img: Image.Image, *, angle: float = 1.5, blur: float = 0.8) -> Image.Image:
    """`img` as a phone photo of a screen or paper looks: slightly turned, blurred,
    greyish."""
    turned = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=235)
    soft = turned.filter(ImageFilter.GaussianBlur(blur))
    return soft.point(lambda v: 30 + v * 200 // 255)


def encode(img: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()
