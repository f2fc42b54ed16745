"""Windows XML exports, and the parsing of one ``<Event>`` that Sysmon for Linux's
syslog lines (:mod:`.sysmon_linux`) share.

Exports come as Event Viewer's "Save as XML" (one ``<Events>`` root) or as
``wevtutil qe /f:xml`` output (``<Event>`` elements with no root): both are streamed
event by event, each event parsed on its own with DTDs and entity declarations refused
(defusedxml). A DTD in the file is never given to the parser, so an export can never make
it resolve an external or expanding entity.

XML 1.0 forbids control characters even as character references, yet attackers put
them in command lines: they are carried through the parser as private-use stand-ins and
restored, so the stored text is exactly what was logged.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from proctrail.store.events import Event, Skip
from proctrail.store.readers.base import Format, ReaderError, ReadOptions, RecordStream
from proctrail.store.readers.winevent import event_from_element

_CHUNK = 1 << 20
_CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
# XML refuses these characters even as references: each goes through the parser as _MARK
# and a letter ("@" for NUL, "[" for ESC), and _MARK itself, a private-use character, as
# two of it, so text already holding private-use characters comes back exactly too.
_MARK = "\uf700"
_HIDDEN_AS = {**{c: chr(0x40 + ord(c)) for c in _CONTROL}, "\ufffe": "e", "\uffff": "f"}
_SHOWN_AS = {letter: c for c, letter in _HIDDEN_AS.items()} | {_MARK: _MARK}
_HIDE_RAW = str.maketrans({_MARK: _MARK * 2, **{c: _MARK + x for c, x in _HIDDEN_AS.items()}})
_HIDDEN = re.compile(_MARK + "([" + re.escape("".join(_SHOWN_AS)) + "])")
# A character reference, or a CDATA section (where "&#...;" is text, not a reference).
_CHAR_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);|<!\[CDATA\[.*?\]\]>", re.S)


def _hide_ref(match: re.Match[str]) -> str:
    body = match.group(1)
    if body is None:
        return match.group(0)
    code = int(body[1:], 16) if body[0] in "xX" else int(body)
    if 0xD800 <= code <= 0xDFFF:
        return ""  # an unpaired surrogate, no character: dropped, as the EVTX readers do
    if code > 0x10FFFF:
        return match.group(0)
    char = chr(code)
    if char in _HIDDEN_AS:
        return _MARK + _HIDDEN_AS[char]
    return _MARK * 2 if char == _MARK else match.group(0)


def hide_controls(text: str) -> str:
    """Control characters, U+FFFE and U+FFFF (raw or as references) as private-use
    stand-ins; references to surrogates dropped."""
    return _CHAR_REF.sub(_hide_ref, text.translate(_HIDE_RAW))


def _show(match: re.Match[str]) -> str:
    return _SHOWN_AS[match.group(1)]


def _shown(text: str) -> str:
    return _HIDDEN.sub(_show, text) if _MARK in text else text


def _restore(elem: Element) -> None:
    for node in elem.iter():
        if node.text:
            node.text = _shown(node.text)
        if node.tail:
            node.tail = _shown(node.tail)
        for key, value in node.attrib.items():
            node.attrib[key] = _shown(value)


def _text_chunks(stream: IO[bytes]) -> Iterator[str]:
    """The stream decoded (BOM-aware) in chunks that never split a character reference."""
    head = stream.read(4)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    carry = ""
    data = head + stream.read(_CHUNK)
    while True:
        text = carry + decoder.decode(data, final=not data)
        if not data:
            if text:
                yield text
            return
        amp = text.rfind("&")
        if amp != -1 and ";" not in text[amp:] and len(text) - amp < 16:
            text, carry = text[:amp], text[amp:]
        else:
            carry = ""
        if text:
            yield text
        data = stream.read(_CHUNK)


_EVENT_START = re.compile(r"<Event[\s>]")
_EVENT_END = "</Event>"
# No real event's XML comes near this many characters: a longer one is skipped as it is
# read, so an export whose event never ends is neither held whole nor searched again.
MAX_EVENT = 16 << 20


def _event_texts(chunks: Iterable[str]) -> Iterator[str | None]:
    """Each ``<Event>...</Event>`` of the text in order, None for one longer than
    :data:`MAX_EVENT`, and last "" when the text ends inside an event.

    Text outside events is dropped as it is scanned. An event going on past a chunk is
    kept in pieces and only the new text is searched for its end: linear time.
    """
    keep = len(_EVENT_END) - 1  # an event's end may be split: its last characters
    buffer = tail = ""
    pieces: list[str] = []  # the event begun in earlier chunks
    held = 0  # its length so far
    inside = dropped = False
    for text in chunks:
        if inside:
            window = tail + text
            end = window.find(_EVENT_END)
            if end == -1:
                held += len(text)
                tail = window[-keep:]
                if not dropped and held > MAX_EVENT:
                    dropped, pieces = True, []
                    yield None
                if not dropped:
                    pieces.append(text)
                continue
            cut = end + len(_EVENT_END) - len(tail)
            if not dropped:
                yield "".join(pieces) + text[:cut]
            inside, dropped, pieces = False, False, []
            text = text[cut:]
        buffer += text
        pos = 0
        while True:
            start = _EVENT_START.search(buffer, pos)
            if start is None:
                buffer = buffer[max(pos, len(buffer) - 8):]  # keep a possibly split "<Event"
                break
            end = buffer.find(_EVENT_END, start.start())
            if end == -1:
                pieces, held, inside = [buffer[start.start():]], len(buffer) - start.start(), True
                tail, buffer = buffer[-keep:], ""
                break
            end += len(_EVENT_END)
            yield buffer[start.start():end]
            pos = end
    if inside and not dropped:
        yield ""


def open_xml_export(stream: IO[bytes], name: str, opts: ReadOptions) -> RecordStream:
    """Events of a Windows XML export, streamed one ``<Event>`` element at a time.

    Each event is parsed on its own, so one damaged event is a counted skip and the
    rest of the export still loads; whatever stands outside events (the ``<Events>``
    root, a declaration, a DTD) is never given to the parser.
    """
    del opts
    seen = 0
    for xml in _event_texts(_text_chunks(stream)):
        if xml == "":
            if seen:
                yield Skip("truncated event", f"the file ends inside event {seen + 1}")
            break
        seen += 1
        if xml is None:
            yield Skip("oversized event", f"event {seen}: over {MAX_EVENT:,} characters")
        else:
            yield event_from_xml(xml, f"event {seen}")
    if seen == 0:
        raise ReaderError(name, "no <Event> elements: not a Windows event XML export")


def event_from_xml(xml: str, where: str, received_us: int | None = None) -> Event | Skip:
    """The event of one ``<Event>`` element's text; one that does not parse or that lacks
    what an event needs is a :class:`Skip` saying ``where`` it was."""
    try:
        return event_from_element(parse_event_xml(xml), received_us=received_us)
    except (ParseError, DefusedXmlException) as exc:
        return Skip("XML error", f"{where}: {_xml_reason(exc)}"[:300])
    except (ValueError, RecursionError) as exc:  # RecursionError: elements nested too deep
        return Skip("malformed event", f"{where}: {exc}"[:300])


def _xml_reason(exc: Exception) -> str:
    if isinstance(exc, DefusedXmlException):
        return f"refused: {type(exc).__name__}"
    return str(exc)


# Sysmon for Linux writes a space for the ";" of its references ("&lt unknown process&gt ",
# "root/scx &quot SELECT ...&quot  | grep"): such a reference takes its space back.
_LOOSE_REF = re.compile(r"&(lt|gt|amp|quot|apos) ")
_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")


def parse_event_xml(text: str) -> Element:
    """One ``<Event>`` element from text; DTDs and entity declarations refused.

    Control characters survive (see :func:`hide_controls`); Sysmon for Linux's loose
    references are repaired when the text does not parse as it is.
    """
    hidden = hide_controls(text)
    try:
        elem = safe_et.fromstring(hidden, forbid_dtd=True)
    except ParseError:
        repaired = _BARE_AMP.sub("&amp;", _LOOSE_REF.sub(r"&\1;", hidden))
        if repaired == hidden:
            raise
        elem = safe_et.fromstring(repaired, forbid_dtd=True)
    _restore(elem)
    return elem


def _sniff(head: bytes, text: str) -> bool:
    del head
    return text.lstrip().startswith("<")


FORMAT = Format("xml", _sniff, open_xml_export)
