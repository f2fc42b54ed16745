"""Fuzzing every reader with mutated samples: nothing but events, skips or ReaderError.

Seeds (:mod:`.seeds`) are the project's own logs (``sample_logs/``, and small logs of every
format that the generator writes at test time), plus the public samples in
``../shared/samples`` where present. Mutations (:mod:`.mutators`, :mod:`.snippets`) are
byte flips, truncation, deletion, insertion, splicing and duplication of regions, and
structure-aware ones: EVTX chunk and record header fields, template offsets and string and
value lengths; broken tags, DTDs with external and expanding entities, huge attributes and
deep nesting in XML; broken quoting, huge numbers, bad hex, Unicode digits and invalid
UTF-8 in JSON lines and auditd.

Every example runs in a worker process (:mod:`.worker`, ``python -m tests.fuzz.worker``),
so a hang (python-evtx's loops, the Rust parser's) ends in a timeout and a dead interpreter
(a Rust abort) is seen. The worker checks (:mod:`.checks`), for every input:

* the reader (:mod:`.targets`) yields only :class:`Event` and :class:`Skip` and raises
  nothing but :class:`ReaderError` (a pyo3 ``PanicException`` is a ``BaseException``: a bug
  too);
* it ends within ``TIME_LIMIT`` seconds (the worker is killed at ``HANG_LIMIT``);
* its peak resident memory grows by less than ``memory_limit`` of the input size;
* every event can be written to the store: text is encodable UTF-8 (no lone surrogate),
  ``orjson.dumps(fields)`` works, ``event_id`` fits an INTEGER and record id and times a
  BIGINT column; no text is longer than the input could make it (no entity expansion),
  and the file an external entity names is never read.

A few fuzzed inputs of every format also go through :class:`Ingestor` into SQLite, whose
report must add up. The tests: ``test_readers.py`` (our seeds, archives, the ingest),
``test_public_samples.py``, and each bug found as a regression in ``test_regressions_*.py``
(their inputs in :mod:`.regression_inputs`).

``PROCTRAIL_FUZZ_EXAMPLES=N pytest tests/fuzz`` runs N random (not derandomized) examples
per test, for long sessions; the normal run is derandomized and small. From the project's
folder, ``python -m tests.fuzz MODE CORPUS [libFuzzer flags]`` fuzzes one reader
coverage-guided with atheris, with the same checks (see :mod:`.__main__`).
"""
