"""One machine, several names (issue 13): ``WS02`` and ``WS02.corp.example`` are one host,
shown by its FQDN, found by any spelling; two FQDNs sharing a first label stay apart (and
the bare name then stands alone); an address is never folded."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.graph import process_graph
from proctrail.store.hosts import assign_aliases, host_ids, host_names, machine_of
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Host
from proctrail.store.queries import browse, export_processes, export_sessions, stats
from proctrail.store.queries.filters import parse_filter
from proctrail.store.queries.timeline import host_names as names_by_id
from proctrail.store.queries.timeline import timeline

# -- the rule, without a database ----------------------------------------------------------


def test_netbios_name_folds_into_its_fqdn() -> None:
    assert machine_of({1: "ws02", 2: "ws02.corp.example"}) == {1: 2}
    assert machine_of({1: "ws02.corp.example", 2: "ws02"}) == {2: 1}  # whichever came first
    assert machine_of({7: "ws02.corp.example"}) == {}
    assert machine_of({}) == {}


def test_case_variants_are_one_key() -> None:
    # hosts.key is lower-cased already; spellings that differ by case still meet.
    assert machine_of({1: "WS02", 2: "ws02.CORP.example", 3: "ws02.corp.example"}) == {
        1: 2, 3: 2}
    assert machine_of({4: "WS02", 5: "ws02"}) == {5: 4}


def test_two_fqdns_with_one_first_label_stay_apart_and_the_bare_name_alone() -> None:
    keys = {1: "ws02.a.example", 2: "ws02", 3: "ws02.b.example"}
    assert machine_of(keys) == {}
    # Each FQDN still gathers its own case variants.
    assert machine_of({**keys, 4: "WS02.A.EXAMPLE"}) == {4: 1}


def test_addresses_are_never_folded() -> None:
    assert machine_of({1: "10", 2: "10.0.0.5"}) == {}
    assert machine_of({1: "192.168.1.7", 2: "192"}) == {}
    assert machine_of({1: "fe80::1", 2: "fe80::1.corp.example"}) == {}


def test_only_a_whole_first_label_folds() -> None:
    assert machine_of({1: "ws0", 2: "ws02.corp.example", 3: "corp", 4: "lnx01"}) == {}


@given(st.dictionaries(st.integers(1, 40),
                       st.sampled_from(["ws02", "WS02", "ws02.a.example", "ws02.b.example",
                                        "WS02.A.example", "ws03", "ws03.corp", "10.0.0.3",
                                        "10", "", "ws03.", "a.b"]),
                       max_size=8))
def test_mapping_points_at_canonical_rows(keys: dict[int, str]) -> None:
    mapping = machine_of(keys)
    assert set(mapping) <= set(keys) and set(mapping.values()) <= set(keys)
    assert not set(mapping) & set(mapping.values())  # no chains
    for alias, canonical in mapping.items():
        a, c = keys[alias].lower(), keys[canonical].lower()
        assert a == c or (c.split(".", 1)[0] == a and "." not in a)
    assert machine_of(dict(reversed(list(keys.items())))) == mapping  # order is no matter


# -- hosts rows ----------------------------------------------------------------------------


def add_hosts(engine: sa.Engine, *names: str) -> dict[str, int]:
    with engine.begin() as conn:
        for name in names:
            conn.execute(sa.insert(Host).values(key=name.lower(), name=name))
        return {r.name: r.id for r in conn.execute(sa.select(Host.id, Host.name))}


def aliases(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Host.id, Host.name, Host.alias_of)).all()
    name = {r.id: r.name for r in rows}
    return {r.name: name.get(r.alias_of) if r.alias_of else None for r in rows}


def matched(engine: sa.Engine, spelling: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(Host.name).where(Host.id.in_(host_ids(spelling))))
                   .scalars())


def test_assign_aliases_follows_new_names(db_url: str) -> None:
    engine = open_engine(db_url)
    ids = add_hosts(engine, "WS02", "WS02.corp.example", "lnx01", "10.0.0.5")
    with engine.begin() as conn:
        assert assign_aliases(conn) == {ids["WS02"]: ids["WS02.corp.example"]}
    assert aliases(engine) == {"WS02": "WS02.corp.example", "WS02.corp.example": None,
                               "lnx01": None, "10.0.0.5": None}
    with engine.connect() as conn:
        assert host_names(conn) == {ids["10.0.0.5"]: ["10.0.0.5"], ids["lnx01"]: ["lnx01"],
                                    ids["WS02.corp.example"]: ["WS02.corp.example", "WS02"]}
    assert matched(engine, "ws02") == matched(engine, "WS02.CORP.example") == {
        "WS02", "WS02.corp.example"}
    # Again: nothing changes.
    with engine.begin() as conn:
        assert assign_aliases(conn) == {ids["WS02"]: ids["WS02.corp.example"]}

    # A second FQDN named ws02 arrives: the bare name is ambiguous, its own host again.
    ids = add_hosts(engine, "ws02.lab.example")
    with engine.begin() as conn:
        assert assign_aliases(conn) == {}
    assert set(aliases(engine).values()) == {None}
    with engine.connect() as conn:
        assert len(host_names(conn)) == 5
    assert matched(engine, "WS02") == {"WS02"}
    assert matched(engine, "ws02.corp.example") == {"WS02.corp.example"}


def test_a_bare_name_no_log_spelled_finds_its_one_fqdn(db_url: str) -> None:
    engine = open_engine(db_url)
    add_hosts(engine, "WS07.corp.example", "ws08.a.example", "ws08.b.example", "10.0.0.9",
              "w_07.corp.example")
    assert matched(engine, "ws07") == {"WS07.corp.example"}
    # Two FQDNs share the label: not one machine, but a filter by the short name shows
    # both (the analyst typed what the overview shows them as).
    assert matched(engine, "ws08") == {"ws08.a.example", "ws08.b.example"}
    assert matched(engine, "10") == set()  # an address's first label is no name
    assert matched(engine, "w%07") == set()  # LIKE characters are only characters
    assert matched(engine, "w_07") == {"w_07.corp.example"}
    assert matched(engine, "ws07.corp") == set()
    # Globs match names and first labels; LIKE characters in them stay characters.
    assert matched(engine, "ws0*") == {"WS07.corp.example", "ws08.a.example",
                                       "ws08.b.example"}
    assert matched(engine, "WS0?") == matched(engine, "ws0*")
    assert matched(engine, "*.b.example") == {"ws08.b.example"}
    assert matched(engine, "w_0*") == {"w_07.corp.example"}
    assert matched(engine, "10.*") == {"10.0.0.9"}


# -- a case logged under both names ----------------------------------------------------------


def start(ev, host: str, rid: int, second: int, pid: int, image: str, parent: int,
          parent_image: str) -> str:
    return ev(4688, rid, f"2026-11-02T08:00:{second:02d}Z", {
        "SubjectUserName": "alice", "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7a1",
        "NewProcessId": hex(pid), "NewProcessName": image, "ProcessId": hex(parent),
        "ParentProcessName": parent_image, "CommandLine": image.rsplit("\\", 1)[-1]},
        host=host)


def logon(ev, host: str, rid: int, second: int) -> str:
    return ev(4624, rid, f"2026-11-02T08:00:{second:02d}Z", {
        "TargetUserName": "alice", "TargetDomainName": "CORP", "TargetLogonId": "0x3e7a1",
        "LogonType": "2", "IpAddress": "-", "WorkstationName": "WS02",
        "AuthenticationPackageName": "Kerberos"}, host=host)


@pytest.fixture
def two_names(db_url: str, xml_log) -> sa.Engine:
    """WS02 logged as ``WS02`` on one export and ``WS02.corp.example`` on another, beside
    ws09 under two FQDNs and its bare name, and an address: ingested, aliases assigned,
    correlated."""
    ev = xml_log.event
    explorer, cmd = r"C:\Windows\explorer.exe", r"C:\Windows\System32\cmd.exe"
    netbios = xml_log("netbios.xml", [
        logon(ev, "WS02", 1, 0),
        start(ev, "WS02", 2, 1, 0x1f40, cmd, 0x2a0, explorer)])
    fqdn = xml_log("fqdn.xml", [
        start(ev, "WS02.corp.example", 10, 2, 0x2b0, r"C:\Windows\System32\whoami.exe",
              0x1f40, cmd),
        start(ev, "ws02.CORP.example", 11, 3, 0x2c0, r"C:\Tools\nc.exe", 0x1f40, cmd)])
    others = xml_log("others.xml", [
        start(ev, "WS09", 1, 4, 0x10, r"C:\a.exe", 0x4, explorer),
        start(ev, "ws09.a.example", 1, 5, 0x11, r"C:\b.exe", 0x4, explorer),
        start(ev, "ws09.b.example", 1, 6, 0x12, r"C:\c.exe", 0x4, explorer),
        start(ev, "10.0.0.7", 1, 7, 0x13, r"C:\d.exe", 0x4, explorer)])
    engine = open_engine(db_url)
    report = Ingestor(engine).run([str(netbios), str(fqdn), str(others)])
    assert report.clean and report.total("stored") == 8
    with engine.begin() as conn:
        mapping = assign_aliases(conn)
    assert len(mapping) == 1
    correlate(engine)
    return engine


MACHINES = ["10.0.0.7", "WS02.corp.example", "WS09", "ws09.a.example", "ws09.b.example"]


def test_overview_shows_one_machine_by_its_fqdn(two_names: sa.Engine) -> None:
    o = browse.overview(two_names)
    assert [h["name"] for h in o.hosts] == MACHINES
    ws02 = o.hosts[1]
    assert ws02["aliases"] == ["WS02"]
    assert ws02["events"] == 4 and o.events == 8
    assert (ws02["first_us"], ws02["last_us"]) == (o.first_us, o.first_us + 3_000_000)
    assert ws02["processes"] >= 3 and ws02["sessions"] >= 1
    assert sum(h["processes"] for h in o.hosts) == o.processes
    case = stats(two_names)
    assert case["hosts"] == MACHINES
    assert case["host_aliases"] == {"WS02.corp.example": ["WS02"]}
    names = names_by_id(two_names)
    assert set(names.values()) == set(MACHINES)  # an alias's id names its machine


@pytest.mark.parametrize("spelling", ["WS02", "ws02", "WS02.corp.example", "ws02.CORP.EXAMPLE"])
def test_any_spelling_selects_the_machine(two_names: sa.Engine, spelling: str) -> None:
    flt = parse_filter(f"host={spelling}")
    rows = browse.search(two_names, "", flt)
    assert {r.host for r in rows} == {"WS02.corp.example"}
    assert {r.name for r in rows} >= {"cmd.exe", "whoami.exe", "nc.exe"}
    sessions = browse.session_rows(two_names, flt)
    assert sessions and {s.host for s in sessions} == {"WS02.corp.example"}
    roots = browse.host_roots(two_names, spelling)
    assert roots and {r.host for r in roots} == {"WS02.corp.example"}
    exported = list(export_processes(two_names, host=spelling))
    assert {p["id"] for p in exported} == {r.id for r in rows}
    assert {p["host"] for p in exported} == {"WS02.corp.example"}
    assert {s["host"] for s in export_sessions(two_names, host=spelling)} == {
        "WS02.corp.example"}
    lines = list(timeline(two_names, host=spelling))
    assert lines and {t["host"] for t in lines} == {"WS02.corp.example"}
    assert set(process_graph(two_names, host=spelling)) == {r.id for r in rows}


def test_the_ambiguous_name_and_the_address_stay_their_own(two_names: sa.Engine) -> None:
    def images(spelling: str) -> set[str]:
        return {r.name for r in browse.search(two_names, "", parse_filter(f"host={spelling}"))
                if "placeholder" not in r.flags}

    assert images("ws09") == {"a.exe"}
    assert images("WS09.A.example") == {"b.exe"}
    assert images("ws09.b.example") == {"c.exe"}
    assert images("10.0.0.7") == {"d.exe"}
    assert images("10") == set()
    everything = {r.host for r in browse.search(two_names, "")}
    assert everything == set(MACHINES)


def test_rows_under_either_id_are_the_machine(two_names: sa.Engine) -> None:
    """Processes and sessions kept under the alias's id (as a correlation that ran before
    the aliases were assigned wrote them) are the machine's too, shown by its name."""
    with two_names.connect() as conn:
        ws02 = dict(conn.execute(sa.select(Host.key, Host.id)
                                 .where(Host.id.in_(host_ids("ws02")))).all())
    assert set(ws02) == {"ws02", "ws02.corp.example"}
    before = {r.id for r in browse.search(two_names, "", parse_filter("host=ws02"))}
    with two_names.begin() as conn:
        for table in ("processes", "sessions"):  # odd ids to the alias, even to the FQDN
            conn.execute(sa.text(f"UPDATE {table} SET host_id = CASE WHEN id % 2 = 1 "
                                 f"THEN :alias ELSE :fqdn END WHERE host_id IN (:alias, :fqdn)"),
                         {"alias": ws02["ws02"], "fqdn": ws02["ws02.corp.example"]})
        used = set(conn.execute(sa.text("SELECT DISTINCT host_id FROM processes")).scalars())
    assert set(ws02.values()) <= used
    rows = browse.search(two_names, "", parse_filter("host=WS02.corp.example"))
    assert {r.id for r in rows} == before and {r.host for r in rows} == {"WS02.corp.example"}
    assert {r.host for r in browse.search(two_names, "")} == set(MACHINES)
    assert {s.host for s in browse.session_rows(two_names)} <= set(MACHINES)
    assert set(browse.starts_over_time(two_names)) == set(MACHINES)
    o = browse.overview(two_names)
    assert [h["name"] for h in o.hosts] == MACHINES and o.hosts[1]["processes"] == len(before)
    stacked = {r["value"]: r["hosts"] for r in browse.stack(two_names, "image")}
    assert stacked["c:\\windows\\system32\\cmd.exe"] == 1
