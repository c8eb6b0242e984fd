"""Text extraction with PDFium (pypdfium2), run inside the worker processes of ``workers.py``.

Why PDFium: measured on 120 public PDFs it was the fastest engine that never crashed or hung (DESIGN.md,
"Extraction engine facts"). Behaviour chosen here and documented in ``docs/pdfco-local.md``:

- ``layout`` mode (``/pdf/convert/to/text``) rebuilds an approximate layout from PDFium's text rectangles:
  lines grouped by vertical position, columns kept by runs of spaces, wide vertical gaps kept as blank lines.
  ``simple`` mode (``/text-simple``) returns PDFium's plain reading order.
- Line endings are CRLF; pages are separated by a form feed (``\\f``), as ``pdftotext`` does.
- Pages are processed one by one and a page that fails is reported, not fatal: PDFium recovers the readable
  pages of many damaged files.
- A page without text gets OCR (Tesseract, ``layout`` mode only, like PDF.co) when Tesseract is installed;
  otherwise the job's message says which pages came back empty and why. Never silent empty text.
- Form-field values and annotations are *not* flattened into the text (PDFium's default).
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import statistics
import stringprep
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from . import pages as page_spec
from .errors import ExtractionError

PAGE_SEPARATOR = "\f"
_LINE = re.compile(r"[^\r\n]+")
_WORD = re.compile(r"\S+")
_FPDF_ERR_PASSWORD = 4


@dataclass(frozen=True)
class ExtractRequest:
    input_path: str
    output_path: str
    mode: str = "layout"  # "layout" | "simple"
    pages: str | None = None
    password: str = ""
    lang: str = "eng"
    #: (x, y, width, height) in PDF points from the page's top-left corner, or None for the whole page.
    rect: tuple[float, float, float, float] | None = None
    tesseract_cmd: str = "tesseract"
    ocr_dpi: int = 300
    #: Absolute time.time() by which the job must end; bounds the OCR subprocess.
    deadline: float | None = None


@dataclass
class ExtractResult:
    page_count: int
    pages: int
    chars: int
    empty_pages: list[int] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    failed_pages: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The job message: "Success" plus anything the user must know about the text."""
        return " ".join(["Success.", *self.notes]) if self.notes else "Success"


def extract(request: ExtractRequest) -> ExtractResult:
    """Extract the requested pages to ``request.output_path`` (written atomically) and describe the result."""
    check_is_pdf(Path(request.input_path))
    ranges = page_spec.parse(request.pages)
    document = open_document(request.input_path, request.password)
    try:
        page_count = len(document)
        if page_count == 0:
            raise ExtractionError(442, "The document has no readable pages.")
        selected = page_spec.resolve(ranges, page_count)
        result = ExtractResult(page_count=page_count, pages=len(selected), chars=0)
        texts = [_page_text(document, index, request, result) for index in selected]
    finally:
        document.close()
    if result.failed_pages and len(result.failed_pages) == len(selected):
        first = next(iter(result.failed_pages.values()))
        raise ExtractionError(442, f"No page could be read ({first}).")
    _describe(result, request)
    output = PAGE_SEPARATOR.join(texts)
    result.chars = len(output)
    partial = Path(request.output_path + ".part")
    partial.write_bytes(output.encode("utf-8"))
    os.replace(partial, request.output_path)
    return result


def check_is_pdf(path: Path) -> None:
    """Answer "not a PDF" clearly: images, HTML, ZIPs and empty files named ``.pdf`` are common."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF" in head:
        return
    raise ExtractionError(442, f"The file is not a PDF: {_sniff(head)}.")


def _sniff(head: bytes) -> str:
    if not head:
        return "it is empty"
    signatures = {
        b"\x89PNG": "it is a PNG image",
        b"\xff\xd8\xff": "it is a JPEG image",
        b"GIF8": "it is a GIF image",
        b"PK\x03\x04": "it is a ZIP archive (or an Office document)",
        b"II*\x00": "it is a TIFF image",
        b"MM\x00*": "it is a TIFF image",
        b"\xd0\xcf\x11\xe0": "it is a legacy Office document",
    }
    for magic, description in signatures.items():
        if head.startswith(magic):
            return description
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:200]:
        return "it is an HTML page (a login or error page saved as .pdf?)"
    return "no %PDF header in its first 1 KiB"


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep mapping + NFKC, which PDF 2.0 (ISO 32000-2 §7.6.4.3.3) applies to passwords."""
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    )
    return unicodedata.normalize("NFKC", mapped)


def open_document(path: str, password: str) -> pdfium.PdfDocument:
    """Open with the password as given, then SASLprep-normalised; PDFium tries user and owner passwords."""
    candidates = list(dict.fromkeys([password, saslprep(password)])) if password else [None]
    last_error: pdfium.PdfiumError | None = None
    for candidate in candidates:
        try:
            return pdfium.PdfDocument(path, password=candidate)
        except pdfium.PdfiumError as error:
            last_error = error
            if getattr(error, "err_code", None) != _FPDF_ERR_PASSWORD:
                raise ExtractionError(442, f"PDFium cannot open it: {_reason(error)}.") from None
    assert last_error is not None
    if password:
        raise ExtractionError(441, "The password given does not open the document.")
    raise ExtractionError(441, "The document is encrypted; a password is required.")


def _reason(error: Exception) -> str:
    text = str(error)
    if "(PDFium: " in text:
        return text.split("(PDFium: ", 1)[1].rstrip(").")
    return text


def _page_text(
    document: pdfium.PdfDocument, index: int, request: ExtractRequest, result: ExtractResult
) -> str:
    try:
        page = document[index]
    except (pdfium.PdfiumError, MemoryError) as error:
        result.failed_pages[index] = _reason(error)
        return ""
    try:
        textpage = page.get_textpage()
        try:
            if request.mode == "simple":
                lines = _simple_lines(textpage, page, request.rect)
            else:
                lines = _layout_lines(textpage, page, request.rect)
        finally:
            textpage.close()
        if not any(line.strip() for line in lines):
            lines = _ocr_or_empty(page, index, request, result)
    except pdfium.PdfiumError as error:
        result.failed_pages[index] = _reason(error)
        return ""
    finally:
        page.close()
    return "".join(line + "\r\n" for line in lines)


def _simple_lines(
    textpage: pdfium.PdfTextPage, page: pdfium.PdfPage, rect: tuple[float, ...] | None
) -> list[str]:
    text = textpage.get_text_range() if rect is None else textpage.get_text_bounded(*_rect_bounds(page, rect))
    return [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _rect_bounds(page: pdfium.PdfPage, rect: tuple[float, ...]) -> tuple[float, float, float, float]:
    """PDF.co's ``rect`` is x, y, width, height from the top-left; PDFium wants left, bottom, right, top."""
    x, y, width, height = rect
    left, _, _, top = page.get_mediabox()
    return left + x, top - y - height, left + x + width, top - y


@dataclass
class _Segment:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


def _layout_lines(
    textpage: pdfium.PdfTextPage, page: pdfium.PdfPage, rect: tuple[float, ...] | None
) -> list[str]:
    """Place the page's words on a character grid.

    The grid follows the direction of the text itself, not the page's ``/Rotate``: PDF.co's
    ``sample-rotated.pdf`` draws upright text on a ``/Rotate 270`` page, while scanned-and-turned documents
    draw sideways text that ``/Rotate`` makes upright; both must read left to right.
    """
    to_grid = _grid_transform(page, _text_quarter_turns(textpage))
    bounds = _rect_bounds(page, rect) if rect is not None else None
    return _grid(_word_segments(textpage, to_grid, bounds))


_Transform = Callable[[float, float], tuple[float, float]]


def _word_segments(
    textpage: pdfium.PdfTextPage, to_grid: _Transform, bounds: tuple[float, float, float, float] | None
) -> list[_Segment]:
    """Runs of words set close together, with their boxes in grid coordinates.

    One ``FPDFText_GetText`` for the page plus two character boxes per word: asking PDFium for the text
    inside each rectangle instead rescans the whole page every time and was ~4x slower.
    """
    text = textpage.get_text_range()
    if len(text) != textpage.count_chars():
        return _rect_segments(textpage, to_grid, bounds)  # UTF-16 surrogates: indices and text disagree
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))

    def box(index: int) -> tuple[float, float, float, float]:
        pdfium_c.FPDFText_GetCharBox(textpage, index, left, right, bottom, top)
        return left.value, bottom.value, right.value, top.value

    segments: list[_Segment] = []
    for line in _LINE.finditer(text):
        if pdfium_c.FPDFText_CountRects(textpage, line.start(), len(line.group())) == 1:
            # The common case, a line PDFium sees as one run: one rectangle, no per-word work.
            pdfium_c.FPDFText_GetRect(textpage, 0, left, top, right, bottom)
            line_box = (left.value, bottom.value, right.value, top.value)
            words = line.group().split()
            if words and (bounds is None or _inside(line_box, bounds)):
                segments.append(_segment(line_box, " ".join(words), to_grid))
            continue
        current: _Segment | None = None
        for word in _WORD.finditer(line.group()):
            first = line.start() + word.start()
            a, b = box(first), box(first + len(word.group()) - 1)
            word_box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
            if bounds is not None and not _inside(word_box, bounds):
                continue
            next_segment = _segment(word_box, word.group(), to_grid)
            if current is not None:
                # Next word close after (left-to-right) or close before (right-to-left): same run. The
                # text keeps PDFium's logical order, so Hebrew and Arabic read correctly.
                gap_limit = 2.5 * (current.x1 - current.x0) / max(1, len(current.text))
                if (
                    0 <= next_segment.x0 - current.x1 <= gap_limit
                    or 0 <= current.x0 - next_segment.x1 <= gap_limit
                ):
                    current.text += " " + next_segment.text
                    current.x0, current.x1 = (
                        min(current.x0, next_segment.x0),
                        max(current.x1, next_segment.x1),
                    )
                    current.y0, current.y1 = (
                        min(current.y0, next_segment.y0),
                        max(current.y1, next_segment.y1),
                    )
                    continue
            current = next_segment
            segments.append(current)
    return segments


def _rect_segments(
    textpage: pdfium.PdfTextPage, to_grid: _Transform, bounds: tuple[float, float, float, float] | None
) -> list[_Segment]:
    """PDFium's own text rectangles with the text inside each (slower; used when indices cannot be mapped)."""
    segments: list[_Segment] = []
    for i in range(textpage.count_rects()):
        box = textpage.get_rect(i)
        if bounds is not None and not _inside(box, bounds):
            continue
        text = " ".join(textpage.get_text_bounded(*box).split())
        if text:
            segments.append(_segment(box, text, to_grid))
    return segments


def _segment(box: tuple[float, float, float, float], text: str, to_grid: _Transform) -> _Segment:
    """A PDF-space box (left, bottom, right, top) turned into a grid-space segment."""
    (ax, ay), (bx, by) = to_grid(box[0], box[1]), to_grid(box[2], box[3])
    return _Segment(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by), text)


def _inside(box: tuple[float, float, float, float], bounds: tuple[float, float, float, float]) -> bool:
    return (
        box[0] >= bounds[0] - 1
        and box[1] >= bounds[1] - 1
        and box[2] <= bounds[2] + 1
        and box[3] <= bounds[3] + 1
    )


def _grid(segments: list[_Segment]) -> list[str]:
    """Lines by vertical position, columns by x (one character cell = the median character width)."""
    if not segments:
        return []
    char_width = statistics.median((s.x1 - s.x0) / len(s.text) for s in segments) or 5.0
    height = statistics.median(s.y1 - s.y0 for s in segments) or 10.0
    origin = min(s.x0 for s in segments)

    lines: list[list[_Segment]] = []
    for segment in sorted(segments, key=lambda s: (s.middle, s.x0)):
        if lines and _same_line(lines[-1], segment):
            lines[-1].append(segment)
        else:
            lines.append([segment])

    out: list[str] = []
    previous_middle: float | None = None
    for line in lines:
        middle = statistics.fmean(s.middle for s in line)
        if previous_middle is not None:
            out.extend([""] * min(3, int((middle - previous_middle) / (3 * height))))
        previous_middle = middle
        text = ""
        for segment in sorted(line, key=lambda s: s.x0):
            column = round((segment.x0 - origin) / char_width)
            if column > len(text):
                text = text.ljust(column)
            elif text and not text.endswith(" "):
                text += " "
            text += segment.text
        out.append(text.rstrip())
    return out


def _text_quarter_turns(textpage: pdfium.PdfTextPage, sample: int = 64) -> int:
    """Clockwise quarter turns that make the page's dominant text direction horizontal."""
    votes = [0, 0, 0, 0]
    count = textpage.count_chars()
    for index in range(0, count, max(1, count // sample)):
        if chr(pdfium_c.FPDFText_GetUnicode(textpage, index)).isspace():
            continue
        angle = math.degrees(pdfium_c.FPDFText_GetCharAngle(textpage, index))
        votes[round(angle / 90) % 4] += 1
    counter_clockwise = votes.index(max(votes))
    return (4 - counter_clockwise) % 4


def _same_line(line: list[_Segment], segment: _Segment) -> bool:
    top = min(s.y0 for s in line)
    bottom = max(s.y1 for s in line)
    return top <= segment.middle <= bottom


def _grid_transform(
    page: pdfium.PdfPage, quarter_turns: int
) -> Callable[[float, float], tuple[float, float]]:
    """Map PDF user-space points to top-left-origin grid coordinates, turned clockwise by quarter turns."""
    left, bottom, right, top = page.get_mediabox()
    rotation = (quarter_turns % 4) * 90
    if rotation == 90:
        return lambda x, y: (y - bottom, x - left)
    if rotation == 180:
        return lambda x, y: (right - x, y - bottom)
    if rotation == 270:
        return lambda x, y: (top - y, right - x)
    return lambda x, y: (x - left, top - y)


def _ocr_or_empty(
    page: pdfium.PdfPage, index: int, request: ExtractRequest, result: ExtractResult
) -> list[str]:
    if request.mode == "simple":
        result.empty_pages.append(index)
        return []
    tesseract = shutil.which(request.tesseract_cmd)
    if tesseract is None:
        result.empty_pages.append(index)
        return []
    try:
        text = _ocr(page, tesseract, request)
    except ExtractionError as error:
        result.empty_pages.append(index)
        result.notes.append(f"OCR of page {index} failed: {error.detail}")
        return []
    result.ocr_pages.append(index)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        result.empty_pages.append(index)
    return lines


def _ocr(page: pdfium.PdfPage, tesseract: str, request: ExtractRequest) -> str:
    bitmap = page.render(scale=request.ocr_dpi / 72, grayscale=True)
    try:
        width, height, stride = bitmap.width, bitmap.height, bitmap.stride
        raw = bytes(bitmap.buffer)
    finally:
        bitmap.close()
    pixels = (
        raw
        if stride == width
        else b"".join(raw[row * stride : row * stride + width] for row in range(height))
    )
    timeout = None if request.deadline is None else max(1.0, request.deadline - time.time())
    with tempfile.NamedTemporaryFile(suffix=".pgm") as image:
        image.write(b"P5\n%d %d\n255\n" % (width, height) + pixels)
        image.flush()
        try:
            completed = subprocess.run(
                [tesseract, image.name, "stdout", "-l", request.lang, "--dpi", str(request.ocr_dpi)],
                capture_output=True,
                timeout=timeout,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ExtractionError(445, "OCR ran out of time.") from None
    if completed.returncode != 0:
        error = completed.stderr.decode(errors="replace").strip().splitlines()
        raise ExtractionError(500, error[-1] if error else f"tesseract exited with {completed.returncode}")
    return completed.stdout.decode("utf-8", errors="replace")


def _describe(result: ExtractResult, request: ExtractRequest) -> None:
    if result.ocr_pages:
        result.notes.append(f"Page(s) {_list(result.ocr_pages)} had no text layer and were read with OCR.")
    if result.empty_pages:
        if request.mode == "simple":
            why = "text-simple does not run OCR; use /pdf/convert/to/text"
        elif shutil.which(request.tesseract_cmd) is None:
            why = "OCR is unavailable because Tesseract is not installed on the server"
        else:
            why = "OCR found no text"
        result.notes.append(f"Page(s) {_list(result.empty_pages)} have no text layer: {why}.")
    if result.failed_pages:
        detail = "; ".join(f"page {index}: {reason}" for index, reason in result.failed_pages.items())
        result.notes.append(f"Some pages are damaged and were skipped ({detail}).")


def _list(indices: list[int]) -> str:
    return ", ".join(str(i) for i in sorted(set(indices)))
