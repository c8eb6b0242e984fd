"""The PDF.co ``pages`` grammar: 0-based indices, ranges, open ranges and ``!N`` (counted from the end).

Grammar (``shared/pdfco-api.md`` §3.3, OAS pattern ``pages0``): comma-separated items, each ``N``, ``N-M`` or
``N-``, where any index may be prefixed with ``!`` to count from the last page (``!0`` is the last page).
White space is allowed anywhere between tokens. A malformed spec is error 450; an index beyond the document
is error 449. Parsing is split from resolving so a malformed spec is rejected before any work is queued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ExtractionError

_INDEX = r"(!?)\s*(\d+)"
# re.ASCII: the contract's pattern is ECMAScript, where \d is 0-9 only (not full-width or Arabic-Indic digits).
_ITEM = re.compile(rf"^\s*{_INDEX}\s*(?:(-)\s*(?:{_INDEX})?)?\s*$", re.ASCII)


@dataclass(frozen=True)
class Index:
    value: int
    from_end: bool

    def resolve(self, page_count: int) -> int:
        return page_count - 1 - self.value if self.from_end else self.value


@dataclass(frozen=True)
class PageRange:
    start: Index
    end: Index | None  # None: open-ended ("N-")
    is_range: bool


def parse(spec: str | None) -> list[PageRange] | None:
    """Parse a pages spec. ``None`` means "all pages" (empty or omitted)."""
    if spec is None or not spec.strip():
        return None
    ranges: list[PageRange] = []
    for item in spec.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ExtractionError(450, f"Cannot parse {item.strip()!r} in pages={spec!r}.")
        bang, number, dash, end_bang, end_number = match.groups()
        start = Index(int(number), bang == "!")
        end = Index(int(end_number), end_bang == "!") if end_number is not None else None
        if end is not None and start.from_end == end.from_end:
            # Both ends counted the same way: a backwards range is malformed whatever the page count.
            backwards = end.value > start.value if start.from_end else end.value < start.value
            if backwards:
                raise ExtractionError(450, f"Range {item.strip()!r} runs backwards in pages={spec!r}.")
        ranges.append(PageRange(start, end, dash is not None))
    return ranges


def resolve(ranges: list[PageRange] | None, page_count: int) -> list[int]:
    """Turn parsed ranges into page indices, in the order the user gave them."""
    if ranges is None:
        return list(range(page_count))
    pages: list[int] = []
    for item in ranges:
        first = _checked(item.start, page_count)
        if not item.is_range:
            pages.append(first)
            continue
        last = page_count - 1 if item.end is None else _checked(item.end, page_count)
        if last < first:
            raise ExtractionError(
                450, f"Range {first}-{last} runs backwards (document has {page_count} pages)."
            )
        pages.extend(range(first, last + 1))
    return pages


def _checked(index: Index, page_count: int) -> int:
    page = index.resolve(page_count)
    if not 0 <= page < page_count:
        shown = f"!{index.value}" if index.from_end else str(index.value)
        raise ExtractionError(449, f"Page index {shown} is outside the document's {page_count} pages.")
    return page
