"""Which rules can match an event at all, found in one pass over its fields.

Each rule knows substrings one of which any event it matches must hold (``Rule.needs``:
the longest plain part of a value, through ANDs and ORs). All of them go into one
Aho-Corasick automaton per field; an event's values are scanned once each, and only the
rules whose substrings turned up, plus those that cannot be narrowed, are evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from proctrail.store.detect.sigma import Rule

ANY = "\\0any"  # the automaton of keywords, which may sit in any field


class RuleIndex:
    """Rules arranged for fast candidate lookup."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        reads = [r.reads for r in self.rules]
        # The fields any rule reads: two events equal on these match the same rules.
        self.reads: tuple[str, ...] | None = None if any(r is None for r in reads) else \
            tuple(sorted(frozenset().union(*reads)))  # type: ignore[arg-type]
        self.always = [i for i, r in enumerate(self.rules) if r.needs is None]
        words: dict[str, dict[str, set[int]]] = {}
        for i, rule in enumerate(self.rules):
            for name, text in rule.needs or ():
                words.setdefault(name or ANY, {}).setdefault(text, set()).add(i)
        self.automata: dict[str, ahocorasick.Automaton] = {}
        for name, texts in words.items():
            automaton = ahocorasick.Automaton()
            for text, ids in texts.items():
                automaton.add_word(text, tuple(sorted(ids)))
            automaton.make_automaton()
            self.automata[name] = automaton

    def cache_key(self, fields: dict[str, str]) -> tuple[object, ...]:
        """What decides the rules an event matches: the fields the rules read (all fields
        when a keyword rule reads any)."""
        if self.reads is None:
            return tuple(sorted(fields.items()))
        return tuple(fields.get(name) for name in self.reads)

    def candidates(self, fields: dict[str, str]) -> list[Rule]:
        """The rules that may match ``fields`` (the others cannot)."""
        ids = set(self.always)
        for name, automaton in self.automata.items():
            values = fields.values() if name == ANY else (fields.get(name),)
            for value in values:
                if value:
                    for _end, found in automaton.iter(value.lower()):
                        ids.update(found)
        return [self.rules[i] for i in sorted(ids)]

    def matches(self, fields: dict[str, str]) -> list[Rule]:
        """The rules that match ``fields``."""
        return [r for r in self.candidates(fields) if r.match(fields)]
