"""One machine, several names: collectors write ``WS02`` (NetBIOS) on one log and
``WS02.corp.example`` (FQDN) on another, in any case. Each spelling is a hosts row (keyed by
its lower-cased name, so case variants are one row already); this module says which rows
are one machine and records it in ``hosts.alias_of``.

The rule (:func:`machine_of`): a bare name (no dot) is the machine of the one FQDN whose
first label it is, when there is exactly one such FQDN in the case. With two FQDNs that
share the first label (``ws02.a.example``, ``ws02.b.example``) the bare name is ambiguous
and stays a host of its own, as do the two FQDNs. A name that looks like an IP address
(digits and dots only; anything with a colon) is never folded. The machine is shown by
its FQDN; the other spellings stay, as aliases, and a host filter by any of them selects
the machine (:func:`host_ids`, which also takes globs and short names).

Reads fold aliases with :data:`Machine` (the machine's row, joined by
:func:`join_machine`) and filter with :func:`on_host`; :func:`assign_aliases` (run by
correlation) keeps ``alias_of`` up to date as new names arrive.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, or_, select, update
from sqlalchemy.orm import aliased

from proctrail.store.bulk import dialect_insert
from proctrail.store.models import Channel, Host, pg_text
from proctrail.store.text import glob_to_like

__all__ = ["Machine", "assign_aliases", "host_ids", "host_names", "is_address", "join_machine",
           "machine_ids", "machine_of", "named_id", "on_host"]

NAME_MAX = 255  # host and channel names, as the schema keeps them

# IPv4 (digits and dots), and IPv6 (a colon: no host name has one).
_ADDRESS = re.compile(r"[0-9.]+|.*:.*", re.S)

# The hosts row that is the machine of the row joined as Host (see join_machine).
Machine = aliased(Host, name="machine")

Q = TypeVar("Q", bound=Select[Any])


def is_address(key: str) -> bool:
    """``key`` looks like an IP address: never folded into a machine."""
    return bool(_ADDRESS.fullmatch(key))


def _bare(key: str) -> bool:
    """A NetBIOS-style name that may be another spelling of an FQDN."""
    return bool(key) and "." not in key and not is_address(key)


def _fqdn_label(key: str) -> str | None:
    """The first label of an FQDN (``ws02`` of ``ws02.corp.example``), else None."""
    if "." not in key or is_address(key):
        return None
    label = key.split(".", 1)[0]
    return label if _bare(label) else None


def machine_of(keys: dict[int, str]) -> dict[int, int]:
    """Which hosts are another spelling of a machine: ``{host id: key}`` (keys lower-cased,
    as ``hosts.key`` holds them) in, ``{alias host id: canonical host id}`` out, only for
    the aliases. Rows with one key (any case) are one machine, its lowest id canonical; a
    bare name is an alias of the one FQDN whose first label it is, when exactly one FQDN
    has that label; an address-like name is never folded. Pure: no database."""
    by_key: dict[str, int] = {}
    out: dict[int, int] = {}
    for host_id in sorted(keys):
        key = keys[host_id].lower()
        first = by_key.setdefault(key, host_id)
        if first != host_id:
            out[host_id] = first  # the same name in another case: one machine
    fqdns: dict[str, list[str]] = {}
    for key in by_key:
        label = _fqdn_label(key)
        if label is not None:
            fqdns.setdefault(label, []).append(key)
    for key, host_id in by_key.items():
        if not _bare(key):
            continue
        named = fqdns.get(key, [])
        if len(named) != 1:
            continue  # no FQDN of that name, or several: the bare name is its own host
        canonical = by_key[named[0]]
        out[host_id] = canonical
        for other, first in list(out.items()):
            if first == host_id:  # the bare name's case variants follow it
                out[other] = canonical
    return out


def assign_aliases(conn: Connection) -> dict[int, int]:
    """Compute :func:`machine_of` over every hosts row and store it in ``alias_of`` (the
    canonical host id on each alias, NULL on every other row, so a name that stopped being
    an alias, when a second FQDN made it ambiguous, is its own machine again). Runs in the
    caller's transaction (commit it); writes only the rows that change. Returns the
    mapping, ``{alias host id: canonical host id}``."""
    rows = conn.execute(select(Host.id, Host.key, Host.alias_of)).all()
    mapping = machine_of({r.id: r.key for r in rows})
    changed = [{"b_id": r.id, "b_alias": mapping.get(r.id)} for r in rows
               if r.alias_of != mapping.get(r.id)]
    if changed:
        conn.execute(update(Host).where(Host.id == bindparam("b_id"))
                     .values(alias_of=bindparam("b_alias")), changed)
    return mapping


def machine_ids(conn: Connection) -> dict[int, int]:
    """Every host id to the id of its machine (itself, for a canonical row), as
    ``alias_of`` holds it."""
    rows = {r.id: r.alias_of for r in conn.execute(select(Host.id, Host.alias_of))}
    return {host_id: _machine(host_id, rows) for host_id in rows}


def _machine(host_id: int, alias_of: dict[int, int | None]) -> int:
    target = alias_of.get(host_id)
    # An alias points at a canonical row (assign_aliases makes no chains); anything else,
    # a row gone or an alias of an alias, is read as a machine of its own.
    if target is not None and target in alias_of and alias_of[target] is None:
        return target
    return host_id


def host_names(conn: Connection) -> dict[int, list[str]]:
    """Every machine (canonical host id) with every spelling of it: the canonical name
    first, then its aliases in the order they were first seen; machines in key order."""
    rows = conn.execute(select(Host.id, Host.name, Host.alias_of)
                        .order_by(Host.key, Host.id)).all()
    alias_of = {r.id: r.alias_of for r in rows}
    out: dict[int, list[str]] = {}
    for r in rows:
        if _machine(r.id, alias_of) == r.id:
            out[r.id] = [r.name]
    for r in sorted(rows, key=lambda r: r.id):
        machine = _machine(r.id, alias_of)
        if machine != r.id:
            out[machine].append(r.name)
    return out


def join_machine(query: Q, host_id: Any) -> Q:
    """``query`` joined with the hosts row of ``host_id`` (as ``Host``) and the row of its
    machine (as :data:`Machine`): select ``Machine.name``, order by ``Machine.key``."""
    return query.join(Host, Host.id == host_id).join(
        Machine, Machine.id == func.coalesce(Host.alias_of, Host.id))


def host_ids(spelling: str) -> Select[tuple[int]]:
    """The ids of every hosts row of the machines ``spelling`` names, any case: the machine
    of the row spelled so, with all its spellings. A bare name that no row has selects
    every FQDN whose first label it is (``mordordc`` → ``MORDORDC.mordor.local`` and
    ``MORDORDC.theshire.local``: a filter by a short name shows each machine of that
    name, though :func:`machine_of` folds a bare name only into a single FQDN). A glob
    (``ws0*``, ``?c01``) matches names and first labels."""
    key = spelling.lower()
    spelled, row = aliased(Host), aliased(Host)
    machine = func.coalesce(spelled.alias_of, spelled.id)
    if "*" in key or "?" in key:
        like = glob_to_like(key)
        return select(row.id).where(func.coalesce(row.alias_of, row.id).in_(
            select(machine).where(or_(spelled.key.like(like, escape="\\"),
                                      spelled.key.like(like + ".%", escape="\\")))))
    named: list[ColumnElement[bool]] = [func.coalesce(row.alias_of, row.id).in_(
        select(machine).where(spelled.key == key))]
    if _bare(key):
        fqdn, same = aliased(Host), aliased(Host)
        named.append(func.coalesce(row.alias_of, row.id).in_(
            select(func.coalesce(fqdn.alias_of, fqdn.id))
            .where(fqdn.key.startswith(key + ".", autoescape=True),
                   ~select(same.id).where(same.key == key).exists())))
    return select(row.id).where(or_(*named))


def on_host(host_id: Any, spelling: str) -> ColumnElement[bool]:
    """``host_id`` (a column) is a hosts row of the machine ``spelling`` names."""
    return host_id.in_(host_ids(spelling))


def named_id(conn: Connection, model: type[Host] | type[Channel], name: str) -> int:
    """The id of the host or channel ``name``, made on first sight (keyed by its lower-cased
    spelling). Names are cut at 255 characters (no real host or channel name is longer; an
    event keeps the whole of a hostile one)."""
    stored = name[:NAME_MAX]
    while len(pg_text(stored)) > NAME_MAX:  # PostgreSQL's NUL escape takes room too
        stored = stored[:-1]
    key = stored.lower()[:NAME_MAX]  # lower-casing can lengthen it ('İ' is two)
    while len(pg_text(key)) > NAME_MAX:
        key = key[:-1]
    found = conn.execute(select(model.id).where(model.key == key)).scalar()
    if found is None:
        conn.execute(dialect_insert(conn.engine, model).values(key=key, name=stored)
                     .on_conflict_do_nothing())
        found = conn.execute(select(model.id).where(model.key == key)).scalar_one()
    return found
