"""Hostile snippets for the structure-aware mutations, by where they go: XML markup and
text, JSON values and punctuation, auditd stamps, values and lines. ``CANARY`` in a
snippet stands for :data:`CANARY`, a file an external entity must never read."""

from __future__ import annotations

from pathlib import Path
from typing import AnyStr

CANARY = Path(__file__).resolve().parents[1] / "data" / "fuzz" / "canary.txt"


def _repeat(unit: bytes, size: int) -> bytes:
    """``unit`` repeated to about ``size`` bytes."""
    return unit * (size // len(unit))


def nested(open_: AnyStr, close: AnyStr, depth: int) -> AnyStr:
    """``open_`` ``depth`` times, then ``close`` as many times."""
    return open_ * depth + close * depth


# Hostile snippets by where they go. XML markup: beside or instead of a tag.
XML_MARKUP = [
    b'<!DOCTYPE Event [<!ENTITY xxe SYSTEM "file://CANARY">]>',
    b'<!DOCTYPE Events [<!ENTITY % p SYSTEM "file://CANARY"> %p;]>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
               for i in range(1, 10)) + b"]>",
    b'<!ENTITY e "expanded">', b'<!ENTITY xxe SYSTEM "file://CANARY">',
    b"<Event>", b"</Event>", b"<Event ", b"<Events>", b"</Events>", b"<", b">", b"/>",
    b"</Data>", b'<Data Name="', b"<![CDATA[", b"]]>", b"<!--", b"-->",
    b'<?xml version="1.0" encoding="utf-16"?>', b"<?pi x?>", b"<EventData>", b"</System>",
    b"<UserData><x><y>1</y></x></UserData>", b"<e:Data>", b"\xef\xbb\xbf", b"\xff\xfe",
    nested(b"<a>", b"</a>", 50_000),
    nested(b"<Data><a>", b"</a></Data>", 2_000),
    b"<UserData>" + nested(b"<a>", b"</a>", 3_000) + b"</UserData>",
    b"<Data" + b"".join(b' a%d="x"' % i for i in range(20_000)) + b">v</Data>",
    b"<EventData>" + _repeat(b"<Data>x</Data>", 300_000) + b"</EventData>",
    b"<EventData>" + b"".join(b'<Data Name="n%d">v</Data>' % i for i in range(20_000))
    + b"</EventData>",
    b'<Data Name="' + b"A" * (1 << 20) + b'">x</Data>',
    b"<EventID>99999999999999999999999</EventID>", b"<EventID>-1</EventID>",
    b"<EventID>" + b"9" * 5000 + b"</EventID>", b"<EventID>0x1F</EventID>",
    b"<EventID>2147483648</EventID>", b"<EventID>\xc2\xb2</EventID>",
    b"<EventID>\xd9\xa3</EventID>", b"<EventRecordID>18446744073709551616</EventRecordID>",
    b"<EventRecordID>-9223372036854775809</EventRecordID>",
    b"<TimeCreated SystemTime='9999-12-31T23:59:59.9999999Z'/>",
    b"<TimeCreated SystemTime='0001-01-01T00:00:00Z'/>",
    b"<TimeCreated SystemTime='2026-11-02T09:00:00+99:00'/>",
    b"<TimeCreated SystemTime='2026-11-02T09:00:00.\xd9\xa3Z'/>",
]
# XML text: in or instead of element text and attribute values.
XML_TEXT = [
    b"&xxe;", b"&lol9;", b"&e;", b"&#x1b;", b"&#0;", b"&#xD800;", b"&#x110000;",
    b"&#99999999999999999999;", b"&#" + b"9" * 5000 + b";", b"&#x" + b"f" * 100 + b";",
    b"&lt", b"&lt ", b"&amp", b"&", b"&#", b"&#x;", b"&quot ", "\uf700".encode(),
    b"\x00", b"\x1b[31m", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\xf4\x90\x80\x80",
    b"\xef\x9c\x80", b"\r", b"\r\n", b"\t", b'"', b"'", b"<", b">", b"]]>",
    b"99999999999999999999999", b"-1", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa3", b"0x1F",
    b"2147483648", b"18446744073709551616", b"9999-12-31T23:59:59.9999999Z",
    b"0000-00-00T00:00:00Z", b"{00000000-0000-0000-0000-00000000000G}",
    b"C" * (1 << 20), b"B" * (1 << 20),
]
JSON_VALUES = [
    b"99999999999999999999999999", b"-9223372036854775809", b"18446744073709551615",
    b"9223372036854775808", b"2147483648", b"1e400", b"-1e400", b"1e-400", b"NaN",
    b"Infinity", b"0x1f", b"1" * 5000, b'"' + b"9" * 5000 + b'"', b'"0x' + b"f" * 40 + b'"',
    b'"-0x1"', b'" 42 "', b'"2147483648"', b'"\xd9\xa3"', b'"\xc2\xb2"', b'"\\ud800"',
    b'"\\udc00\\ud800"', b'"\\u0000"', b'"\\u001b[31m"', b'"\xff\xfe"', b'"\xed\xa0\x80"',
    b'"unterminated', b'"\\', b'"\\x41"', b"null", b"true", b"false", b"[]", b"{}", b'""',
    b"[1,[2,[3]]]", nested(b"[", b"]", 1100), nested(b"[", b"]", 990),
    b'{"a":' * 1000 + b"1" + b"}" * 1000, b'{"a":' * 990 + b"1" + b"}" * 990,
    b'[{"a":' * 490 + b"1" + b"}]" * 490,
    b'{"#text":[1,[2,[3]]],"#attributes":{"SystemTime":5,"Name":{"x":1}}}',
    b'{"#attributes":{"Name":{"x":1}}}', b'{"#attributes":5}', b'[{"#text":"x"}]',
    b'{"#text":{"#text":null}}', b'"2026-11-02T09:00:00.1234567890123Z"',
    b'"9999-12-31T23:59:59.999999Z"', b'"0001-01-01T00:00:00Z"',
    b'"2026-11-02T09:00:00+99:00"', b'"2026-11-02 09:00:00"', b'"\xe2\x80\xae"',
    b'"' + b"A" * (1 << 20) + b'"', b'{"Event":{"System":{}}}',
    b'{"System":{"EventID":{"#text":"x"}}}', b'"<Event><System><EventID>1</EventID>'
    b'</System><EventData><Data Name=\\"x\\">' + b"<a>" * 3000 + b'</Data></EventData>"',
]
# JSON punctuation: beside or instead of a colon, comma or line end.
JSON_PUNCT = [
    b"\n", b"\r", b"\x00", b"\xef\xbb\xbf", b",", b":", b"{", b"}", b"[", b"]", b'"',
    b"\n{}\n", b"\n[1]\n", b'\n"x"\n', b"\n\xff\xfe\n", b"\n" + nested(b"[", b"]", 1100),
    b'\n{"Event":{"System":{"EventID":2147483648}}}\n',
    b'\n{"winlog":{"event_id":1,"user_data":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}\n",
]
AUDIT_STAMPS = [
    b"99999999999999999999.000:1", b"9" * 5000 + b".0:1", b"1793599200.010:" + b"9" * 5000,
    b"1793599200.\xc2\xb2:1", b"1793599200.010:\xc2\xb2", b"\xd9\xa1\xd9\xa2.0:5",
    b"1793599200.010:99999999999999999999", b"10/26/2021 12:51:14.\xc2\xb2:1385",
    b"10/26/2021 12:51:14.046:1385", b"99/99/9999 99:99:99.000:1",
    b"12/31/9999 23:59:59.999:1", b"01/01/0001 00:00:00.000:1", b"01/01/1 00:00:00.000:1",
    b":1", b".:1", b"1.1234567:1", b"1:", b"1:-1", b"", b"(", b"1793599200.010:4482) x=(",
]
AUDIT_VALUES = [
    b"99999999999999999999999", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa3", b"-1", b"",
    b'"', b"'", b'"unterminated', b"'msg=", b"'op=x a=", b"ZZ", b"ABC", b"00", b"0000",
    b"6162" * 10_000, b"(null)", b"(none)", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"=",
    b"==", b"x=" * 5000, b'"x" a' + b"9" * 5000 + b"=y", b"x a0[" + b"9" * 5000 + b"]=y",
    b"x a1[\xc2\xb2]=y", b"x item=" + b"9" * 5000, b"x item=\xc2\xb2",
    b"x syscall=" + b"9" * 5000, b"x syscall=\xc2\xb2", b"x syscall=99999999999",
    b"c000003e syscall=59 success=yes", b"x a0=" + b"41" * 100_000,
]
# auditd lines: at a line's start.
AUDIT_LINES = [
    b"type=EOE msg=audit(1:1):\n", b"\n", b"\r", b"----\n", b"time->x\n",
    b"type=SYSCALL msg=audit(1700000000.1:1): " + b"a=b " * 50_000 + b"\n",
    b"type=EXECVE msg=audit(1.1:5): argc=1 a" + b"9" * 5000 + b"=x\n",
    b"node=\xff type=SYSCALL msg=audit(1.1:1): syscall=\xc2\xb2\n",
    b"type=PATH msg=audit(1793599200.010:4482): item=\xc2\xb2 name=x\n",
    b"type=SYSCALL msg=audit(01/01/0001 00:00:00.000:9) : syscall=execve\n",
    b"".join(b"type=CWD msg=audit(1.1:%d): cwd=/\n" % i for i in range(5000)),
    b"type=X msg=audit(" + b"(" * 10_000 + b"\n", b"type= msg=audit():\n",
]

# Where text seeds are mutated: spans of each kind of token, found by a pattern (its group
