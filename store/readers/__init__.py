"""The readers, one module a log format, and :data:`FORMATS`, their registry.

An input's format is the first entry of :data:`FORMATS` whose ``sniff`` takes its first
bytes (:func:`.sniff.detect`): a :class:`~.base.Format` is read with its ``open``, a
:class:`~.base.Refusal` refused with its reason. So the order matters: a narrow test
stands before a loose one that would also take its inputs (Sysmon for Linux's lines of
``<Event>`` before XML's "starts with <").

To add a format: write its reader module here with an ``open_...(stream, name, opts)``
that yields :class:`~proctrail.store.events.Event` and counted ``Skip`` items (a
:class:`~.base.ReaderError` for an input it cannot read at all), declare it at the end of
the module as ``FORMAT = Format(name, sniff, open, seekable)``, and put it in
:data:`FORMATS` where its sniff neither takes another format's inputs nor loses its own;
the message for inputs of no format (in :func:`.sniff.detect`) names what is read.
"""

from __future__ import annotations

from proctrail.store.readers import auditd, evtx_rust, jsonl, sysmon_linux, xml
from proctrail.store.readers.base import Format, Refusal

FORMATS: tuple[Format | Refusal, ...] = (
    evtx_rust.FORMAT,
    evtx_rust.CARVED_CHUNK,
    jsonl.FORMAT,
    sysmon_linux.FORMAT,
    xml.FORMAT,
    auditd.FORMAT,
    evtx_rust.LEGACY_EVT,
)
