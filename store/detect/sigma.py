"""Sigma rules, parsed by pySigma and compiled into Python predicates over one event's fields.

pySigma reads the YAML, applies the value modifiers (contains, startswith, endswith, all,
windash, base64offset, re, cidr, cased, exists, fieldref ...) and parses the condition
(``1 of``/``all of``/``not``); this module turns the parsed condition tree into nested
closures. Matching follows Sigma: strings compare case-insensitively with ``*``/``?``
wildcards, a list of values is any-of unless ``|all``, a field list names several fields.
A rule that cannot be evaluated is refused with its reason, never dropped silently.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from proctrail.store.errors import ProctrailError
from proctrail.store.text import first_line

Fields = dict[str, str]
Predicate = Callable[[Fields], bool]


class RuleRefused(ProctrailError):
    """A rule proctrail cannot evaluate: the reason in one line."""


@dataclass
class Rule:
    """A compiled Sigma rule."""

    id: str
    title: str
    level: str
    tags: list[str]
    product: str  # windows | linux | ...
    category: str
    path: str
    match: Predicate = field(repr=False)
    # Substrings one of which a matching event must hold, as (field or None for any
    # field, lower-case text); None when the rule cannot be narrowed so (it always runs).
    needs: frozenset[tuple[str | None, str]] | None = field(default=None, repr=False)
    # The fields its condition reads; None when it reads them all (keywords).
    reads: frozenset[str] | None = field(default=None, repr=False)


@dataclass
class Refused:
    """A rule file that was not loaded, and why."""

    path: str
    reason: str


def _string(value: SigmaString, cased: bool = False) -> Callable[[str], bool]:
    """A matcher of one Sigma string (wildcards ``*`` and ``?``)."""
    parts = value.s
    if any(p not in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE)
           and not isinstance(p, str) for p in parts):
        raise RuleRefused("placeholders (%name%) need a pipeline that defines them")
    plain = [p for p in parts if isinstance(p, str)]
    star = SpecialChars.WILDCARD_MULTI
    if not cased and SpecialChars.WILDCARD_SINGLE not in parts and len(plain) <= 1:
        text = (plain[0] if plain else "").lower()
        shape = tuple(p is star for p in parts)
        if shape in ((), (False,)):
            return lambda v: v.lower() == text
        if shape == (True, False, True):
            return lambda v: text in v.lower()
        if shape == (False, True):
            return lambda v: v.lower().startswith(text)
        if shape == (True, False):
            return lambda v: v.lower().endswith(text)
        if shape in ((True,), (True, True)):
            return lambda v: True
    pattern = "".join(".*" if p is star else "." if p == SpecialChars.WILDCARD_SINGLE
                      else re.escape(p) for p in parts)
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    compiled = re.compile(pattern, flags)
    return lambda v: compiled.fullmatch(v) is not None


def _value(value: Any) -> Callable[[str | None], bool]:
    """A matcher of one field value (None: the field is absent)."""
    if isinstance(value, SigmaExpansion):  # windash, base64offset: any of the variants
        matchers = [_value(v) for v in value.values]
        return lambda v: any(m(v) for m in matchers)
    if isinstance(value, SigmaCasedString):
        m = _string(value, cased=True)
        return lambda v: v is not None and m(v)
    if isinstance(value, SigmaString):
        m = _string(value)
        return lambda v: v is not None and m(v)
    if isinstance(value, SigmaNumber):
        text = str(value.number)
        return lambda v: v is not None and v.strip().lower() in (text, hex(int(value.number)))
    if isinstance(value, SigmaBool):
        text = "true" if value.boolean else "false"
        return lambda v: v is not None and v.lower() == text
    if isinstance(value, SigmaNull):
        return lambda v: v is None or v == ""
    if isinstance(value, SigmaExists):
        want = value.exists
        return lambda v: (v is not None and v != "") == want
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:  # the rule's i, m, s
            flags |= value.sigma_to_python_flags[flag]
        try:
            compiled = re.compile(str(value.regexp), flags)
        except re.error as exc:
            raise RuleRefused(f"regular expression not supported by Python: {exc}") from exc
        return lambda v: v is not None and compiled.search(v) is not None
    if isinstance(value, SigmaCIDRExpression):
        network = ipaddress.ip_network(str(value.network), strict=False)

        def in_network(v: str | None) -> bool:
            try:
                return v is not None and ipaddress.ip_address(v.strip()) in network
            except ValueError:
                return False
        return in_network
    if isinstance(value, SigmaCompareExpression):
        number = value.number.number
        op = value.op

        def compare(v: str | None) -> bool:
            try:
                x = float(v) if v is not None else None
            except ValueError:
                return False
            if x is None:
                return False
            return {SigmaCompareExpression.CompareOperators.LT: x < number,
                    SigmaCompareExpression.CompareOperators.LTE: x <= number,
                    SigmaCompareExpression.CompareOperators.GT: x > number,
                    SigmaCompareExpression.CompareOperators.GTE: x >= number}[op]
        return compare
    raise RuleRefused(f"value type {type(value).__name__} is not supported")


def _field_ref(name: str, ref: SigmaFieldReference) -> Predicate:
    """``name|fieldref``: equal to (or, with startswith / endswith / contains, starting,
    ending with or holding) the other field's value, case-insensitively as every Sigma
    string; never true where either field is absent."""
    other, head, tail = ref.field, ref.starts_with, ref.ends_with

    def compare(f: dict[str, str]) -> bool:
        a, b = f.get(name), f.get(other)
        if a is None or b is None:
            return False
        a, b = a.lower(), b.lower()
        if head and tail:
            return b in a
        if head:
            return a.startswith(b)
        if tail:
            return a.endswith(b)
        return a == b
    return compare


def _compile(node: Any) -> Predicate:
    """The parsed condition tree as one predicate."""
    if isinstance(node, ConditionAND):
        parts = [_compile(a) for a in node.args]
        return lambda f: all(p(f) for p in parts)
    if isinstance(node, ConditionOR):
        parts = [_compile(a) for a in node.args]
        return lambda f: any(p(f) for p in parts)
    if isinstance(node, ConditionNOT):
        inner = _compile(node.args[0])
        return lambda f: not inner(f)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        name = node.field
        if isinstance(node.value, SigmaFieldReference):
            return _field_ref(name, node.value)
        matcher = _value(node.value)
        return lambda f: matcher(f.get(name))
    if isinstance(node, ConditionValueExpression):  # a keyword: any field holds it
        value = node.value
        if isinstance(value, SigmaString):  # full-text search: anywhere in a value
            star = SpecialChars.WILDCARD_MULTI
            anywhere = copy.copy(value)
            anywhere.s = (star, *(p for p in value.s), star)
            value = anywhere
        matcher = _value(value)
        return lambda f: any(matcher(v) for v in f.values())
    raise RuleRefused(f"condition element {type(node).__name__} is not supported")


Needs = frozenset[tuple[str | None, str]] | None


def _literal(value: Any) -> frozenset[str] | None:
    """Lower-case substrings one of which a value matching ``value`` must contain."""
    if isinstance(value, SigmaExpansion):
        parts = [_literal(v) for v in value.values]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*parts)  # type: ignore[arg-type]
    if isinstance(value, SigmaString):
        plain = [p for p in value.s if isinstance(p, str)]
        longest = max(plain, key=len, default="")
        return frozenset((longest.lower(),)) if longest else None
    return None


def _needs(node: Any) -> Needs:
    """What any event matching ``node`` must contain (see :attr:`Rule.needs`)."""
    if isinstance(node, ConditionAND):
        found = [n for n in (_needs(a) for a in node.args) if n is not None]
        return min(found, key=len) if found else None
    if isinstance(node, ConditionOR):
        parts = [_needs(a) for a in node.args]
        if not parts or any(p is None for p in parts):
            return None
        return frozenset().union(*parts)  # type: ignore[arg-type]
    if isinstance(node, ConditionFieldEqualsValueExpression):
        texts = _literal(node.value)
        return None if texts is None else frozenset((node.field, t) for t in texts)
    if isinstance(node, ConditionValueExpression):
        texts = _literal(node.value)
        return None if texts is None else frozenset((None, t) for t in texts)
    return None  # NOT, and anything else: no narrowing


def _reads(node: Any) -> frozenset[str] | None:
    """The field names a condition looks at (None: any field, for keywords)."""
    if isinstance(node, ConditionValueExpression):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        other = node.value.field if isinstance(node.value, SigmaFieldReference) else None
        return frozenset(n for n in (node.field, other) if n)
    parts = [_reads(a) for a in getattr(node, "args", ())]
    if any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


def compile_rule(text: str, path: str = "") -> Rule:
    """One rule from its YAML; raises :class:`RuleRefused` with the reason."""
    try:
        rule = SigmaRule.from_yaml(text)
        conditions = [c.parsed for c in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise RuleRefused(f"pySigma cannot read it: {first_line(exc)}") from exc
    except Exception as exc:  # broken YAML and the like
        raise RuleRefused(f"not a Sigma rule: {type(exc).__name__}: {exc}") from exc
    if rule.logsource.category != "process_creation":
        raise RuleRefused(f"log source {rule.logsource.category or rule.logsource.service!r} "
                          "is not process creation")
    predicates = [_compile(c) for c in conditions]
    match = predicates[0] if len(predicates) == 1 else (
        lambda f: any(p(f) for p in predicates))
    needs = [_needs(c) for c in conditions]
    need = None if any(n is None for n in needs) else frozenset().union(*needs)
    reads = [_reads(c) for c in conditions]
    read = None if any(r is None for r in reads) else frozenset().union(*reads)
    return Rule(id=str(rule.id or ""), title=rule.title or Path(path).stem,
                level=str(rule.level.name.lower() if rule.level else "medium"),
                tags=[str(t) for t in rule.tags], product=rule.logsource.product or "",
                category=rule.logsource.category, path=path, match=match, needs=need,
                reads=read)


def load_rules(paths: Iterable[Path]) -> tuple[list[Rule], list[Refused]]:
    """Every ``*.yml``/``*.yaml`` rule under the given files and folders."""
    texts, refused = read_rules(paths)
    rules, not_compiled = compile_rules(texts)
    return rules, refused + not_compiled


def read_rules(paths: Iterable[Path]) -> tuple[list[tuple[str, str]], list[Refused]]:
    """The ``(path, YAML)`` of every rule file under the given files and folders, and
    those that cannot be read: what a worker elsewhere compiles (:func:`compile_rules`)."""
    texts: list[tuple[str, str]] = []
    refused: list[Refused] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            files.append(path)
    for file in files:
        try:
            texts.append((str(file), file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            refused.append(Refused(str(file), f"cannot read: {exc}"))
    return texts, refused


def compile_rules(texts: Iterable[tuple[str, str]]) -> tuple[list[Rule], list[Refused]]:
    """The rules of ``(path, YAML)`` pairs, and those refused with the reason."""
    rules: list[Rule] = []
    refused: list[Refused] = []
    for path, text in texts:
        try:
            rules.append(compile_rule(text, path))
        except RuleRefused as exc:
            refused.append(Refused(path, str(exc)))
    return rules, refused
