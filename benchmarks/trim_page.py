"""Trim a saved publisher page to what the page tests need (tests/fixtures/pages).

Scripts, styles, frames, comments, inline styles and event handlers go; the DOM, its
class/id/aria/data attributes, the text and the links stay, so the page's template (its
navigation, modules, ads, footer) is what the reader sees. Written as UTF-8.

    python benchmarks/trim_page.py SOURCE.html OUT.html
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lxml import etree
from lxml.html import document_fromstring, tostring

from relevance.io.html import decode_html

_DROP = ("script", "style", "noscript", "template", "svg", "iframe", "object", "embed",
         "video", "audio", "source", "picture", "canvas", "map")  # fmt: skip
_DROP_ATTRS = {"style", "srcset", "sizes", "width", "height", "border", "align", "src", "target",
               "rel", "type", "bgcolor", "valign", "cellpadding", "cellspacing"}  # fmt: skip
_KEEP_META = re.compile(r"^(?:og:|article:|twitter:(?:title|url)|description$|title$|date|pubdate)")


def trim(data: bytes) -> bytes:
    root = document_fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", decode_html(data)))
    etree.strip_elements(root, *_DROP, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    for el in list(root.iter("link")):
        if "canonical" not in (el.get("rel") or "").lower():
            el.drop_tree()
    for el in list(root.iter("meta")):
        key = el.get("property") or el.get("name") or el.get("itemprop") or ""
        if not _KEEP_META.match(key.lower()):
            el.drop_tree()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name in list(el.attrib):
            value = el.attrib[name]
            if name in _DROP_ATTRS or name.startswith("on") or len(value) > 300:
                del el.attrib[name]
        if el.text:
            el.text = re.sub(r"\s+", " ", el.text)
        if el.tail:
            el.tail = re.sub(r"\s+", " ", el.tail)
    head = root.find("head")
    if head is not None:
        meta = etree.SubElement(head, "meta")
        meta.set("charset", "utf-8")
        head.insert(0, meta)
    return b"<!DOCTYPE html>\n" + tostring(root, encoding="utf-8")


def main(argv: list[str]) -> int:
    src, out = Path(argv[0]), Path(argv[1])
    out.write_bytes(trim(src.read_bytes()))
    print(f"{src}: {src.stat().st_size} -> {out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
