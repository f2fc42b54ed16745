"""``proctrail serve`` locked down as if the machine were hostile: a page elsewhere cannot
reach the case (token, Host and Origin checks), sessions are capped and end with their
socket, and the page asks nothing of another server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))
TOKEN = "t0ken-for-the-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def apps_of(pid: int) -> list[int]:
    """The ``proctrail open`` processes below ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        shell = cmd.split(b" ", 1)[0].rsplit(b"/", 1)[-1] in (b"sh", b"bash", b"dash")
        if b"proctrail.app.cli open" in cmd and not shell and ppid in (pid, *_children(pid)):
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "serve", "--db", str(tmp_path / "case.db"), "--port", str(port),
         "--token", TOKEN, "--max-sessions", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"serve did not listen: {proc.stderr.read() if proc.stderr else ''}")
    yield proc, f"http://127.0.0.1:{port}", port
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


async def test_a_foreign_page_gets_nothing_and_the_right_link_works(server) -> None:
    proc, base, port = server
    # unsafe: keep cookies of an IP address, as browsers do
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/") as r:  # no token
            assert r.status == 403
        async with http.get(f"{base}/static/js/textual.js") as r:
            assert r.status == 403
        async with http.get(f"{base}/?token=wrong") as r:
            assert r.status == 403
        async with http.get(f"{base}/?token={TOKEN}",
                            headers={"Host": f"evil.example:{port}"}) as r:  # rebinding
            assert r.status == 403
        for headers in ({"Origin": "http://evil.example"},  # a page elsewhere, with token
                        {"Origin": base, "Cookie": "x=1"}):  # the right origin, no token
            jar = {"proctrail_token": TOKEN} if "evil" in headers["Origin"] else {}
            async with aiohttp.ClientSession(cookies=jar) as other:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await other.ws_connect(f"{base}/ws", headers=headers)
                assert refused.value.status == 403
        await asyncio.sleep(0.5)
        assert apps_of(proc.pid) == []  # nothing was started for them

        async with http.get(f"{base}/?token={TOKEN}") as r:
            page = await r.text()
            assert r.status == 200 and "proctrail_token" in r.headers.get("Set-Cookie", "")
        assert "googleapis" not in page and "https://" not in page
        async with http.get(f"{base}/static/js/textual.js") as r:  # the cookie now
            assert r.status == 200
        ws = await http.ws_connect(f"{base}/ws?width=80&height=24",
                                   headers={"Origin": base})
        for _ in range(100):
            if apps_of(proc.pid):
                break
            await asyncio.sleep(0.1)
        assert len(apps_of(proc.pid)) == 1
        with pytest.raises(aiohttp.WSServerHandshakeError) as full:  # --max-sessions 1
            await http.ws_connect(f"{base}/ws", headers={"Origin": base})
        assert full.value.status == 503
        await ws.close()
        for _ in range(100):
            if not apps_of(proc.pid):
                break
            await asyncio.sleep(0.1)
        assert apps_of(proc.pid) == []  # its process ended with its socket


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs it)")
def test_the_page_loads_fully_with_the_network_off(server, tmp_path: Path) -> None:
    """A real browser that can reach nothing but 127.0.0.1 opens the page, runs its script
    and connects (a ``proctrail open`` starts); nothing the page asks for leaves the
    machine. Chromium's own background calls are told apart by their initiator."""
    import json

    proc, base, port = server
    netlog = tmp_path / "net.json"
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--log-net-log={netlog}", "--virtual-time-budget=10000", "--dump-dom",
         f"{base}/?token={TOKEN}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    started = False
    deadline = time.monotonic() + 90
    while browser.poll() is None and time.monotonic() < deadline:
        started = started or bool(apps_of(proc.pid))
        time.sleep(0.1)
    if browser.poll() is None:
        browser.kill()
    dom = browser.communicate()[0].decode(errors="replace")
    assert "textual-terminal" in dom
    assert started, "the page's script never connected its websocket"

    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    asked = [(e["params"].get("initiator", ""), e["params"]["url"]) for e in log["events"]
             if e["type"] == start_job and "url" in e.get("params", {})]
    origin = f"http://127.0.0.1:{port}"
    by_page = [url for initiator, url in asked if initiator == origin]
    assert any(url.startswith(f"ws://127.0.0.1:{port}/ws") for url in by_page)
    assert any(url.endswith("/static/js/textual.js") for url in by_page)
    elsewhere = [url for url in by_page
                 if not url.split("://", 1)[1].startswith(f"127.0.0.1:{port}/")]
    assert elsewhere == []
