"""ATT&CK out of a case: the techniques its findings name (counted by
:func:`~proctrail.store.queries.report.technique_counts`) as an ATT&CK Navigator layer
(layer format 4.5, Enterprise v19)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proctrail.store.detect.attack import ATTACK_VERSION
from proctrail.store.queries.findings import FindingRow
from proctrail.store.queries.report import TechniqueCount, technique_counts

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
COMMENT_RULES = 10  # rules named in a technique's comment, then "and N more"


def _comment(c: TechniqueCount) -> str:
    rules = sorted(c.rules.items(), key=lambda kv: (-kv[1], kv[0]))
    text = "; ".join(f"{title} ({n})" for title, n in rules[:COMMENT_RULES])
    more = len(rules) - COMMENT_RULES
    return text + (f"; and {more} more" if more > 0 else "")


def navigator_layer(rows: Iterable[FindingRow], name: str = "proctrail case") -> dict[str, Any]:
    """The ATT&CK Navigator layer of the findings' techniques: score = findings, comment =
    the rules (titles, with their findings); one entry per tactic the technique is filed
    under in the case, so the Navigator colours the cell in each of its columns."""
    counts = technique_counts(rows)
    techniques: list[dict[str, Any]] = []
    for c in counts:
        entry = {"techniqueID": c.id, "score": c.findings, "comment": _comment(c),
                 "enabled": True,
                 "metadata": [{"name": "hosts", "value": ", ".join(sorted(c.hosts))}]}
        techniques += [{**entry, "tactic": t} for t in c.tactics] or [entry]
    top = max((c.findings for c in counts), default=1)
    return {
        "name": name,
        "versions": {"layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION,
                     "attack": ATTACK_VERSION},
        "domain": "enterprise-attack",
        "description": f"{sum(c.findings for c in counts)} technique hit(s) of "
                       f"{len(counts)} technique(s), from proctrail's findings",
        "sorting": 3,  # by score, highest first
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766", "#ff6666"], "minValue": 0, "maxValue": top},
        "legendItems": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
