"""Sigma's field-reference modifiers evaluated as pySigma's SQLite backend evaluates them
(the reference, side by side on the same events), and case-insensitively as every Sigma
string: a true and a false case for each."""

from __future__ import annotations

import sqlite3

import pytest

from proctrail.store.detect.sigma import compile_rule

backend = pytest.importorskip("sigma.backends.sqlite", reason="pysigma-backend-sqlite absent")
from sigma.collection import SigmaCollection  # noqa: E402

RULE = """title: t
logsource: {{category: process_creation, product: windows}}
detection:
    sel:
        User|{modifier}: ParentUser
    condition: sel
"""
# (User, ParentUser): what each modifier must say of them
CASES = [
    ("corp\\bob", "corp\\bob"), ("corp\\bob", "corp\\alice"), ("corp\\bob", "corp"),
    ("corp\\bob", "bob"), ("corp\\bob-adm", "bob"), ("", "x"), ("a_b", "a%"),
]


def reference(modifier: str, user: str, parent: str) -> bool:
    (query,) = backend.sqliteBackend().convert(
        SigmaCollection.from_yaml(RULE.format(modifier=modifier)))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE logs (User TEXT, ParentUser TEXT)")
    db.execute("INSERT INTO logs VALUES (?, ?)", (user, parent))
    return bool(db.execute(query).fetchall())


@pytest.mark.parametrize("modifier", ["fieldref", "fieldref|startswith", "fieldref|endswith",
                                      "fieldref|contains"])
@pytest.mark.parametrize(("user", "parent"), CASES)
def test_field_references_agree_with_the_reference(modifier: str, user: str,
                                                   parent: str) -> None:
    rule = compile_rule(RULE.format(modifier=modifier))
    assert rule.match({"User": user, "ParentUser": parent}) == reference(modifier, user,
                                                                         parent)


@pytest.mark.parametrize(("modifier", "user", "parent", "hit"), [
    ("fieldref", "CONTOSO\\bob", "contoso\\Bob", True),  # the reference's = is cased
    ("fieldref", "CONTOSO\\bob", "contoso\\Bobby", False),
    ("fieldref|startswith", "CONTOSO\\Bob-adm", "contoso\\bob", True),
    ("fieldref|endswith", "CONTOSO\\Bob-adm", "contoso\\bob", False),
    ("fieldref|contains", "x CONTOSO\\Bob y", "contoso\\bob", True),
])
def test_field_references_ignore_case(modifier: str, user: str, parent: str,
                                      hit: bool) -> None:
    rule = compile_rule(RULE.format(modifier=modifier))
    assert rule.match({"User": user, "ParentUser": parent}) is hit
    assert not rule.match({"User": user})  # a field that is absent matches nothing
