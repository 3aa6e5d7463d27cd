"""The demo page in headless Chromium (Debian's chromium + chromium-driver, via Selenium):
notifications to its user, to a topic and to everyone; the gateway stopped and started
again on the same port, and the page resuming. With the memory log the page shows the
`resync` event; on Redis (a private redis-server, a second replica publishing while the
first is down) it shows what was published meanwhile, and the `resumed` frame Chromium
received says `complete: true`.

The gateways run as real processes (`python -m gateway --demo`), stopped with SIGTERM as an
operator would. Screenshots of the page are written to test-artifacts/ (demo.png,
demo-redis.png).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import grpc
import jwt
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.client import Publisher
from tests.support.chromium import needs_chromium, screenshot_and_console_check, wait_for
from tests.support.helpers import ROOT, free_port
from tests.support.netproxy import ProxyThread
from tests.support.redis_helpers import RedisServer

pytestmark = needs_chromium


def _websocket_refused(message: str) -> bool:
    """A refused connection while a gateway was down is logged by Chromium; nothing else may be."""
    return "WebSocket" in message


class GatewayProcess:
    """`python -m gateway --demo` on fixed ports, so a restart comes back on the same ones."""

    def __init__(self, **env: str) -> None:
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gateway", "--demo", "--grace-seconds", "3"),
                *("--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port)),
            ],
            env={**os.environ, "GATEWAY_LOG_LEVEL": "WARNING", **self.env},
        )
        # Ready, not only listening: on Redis, WebSockets get 503 until the log reaches it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:  # refused, or 503 (urllib's HTTPError is an OSError)
                pass
            time.sleep(0.1)
        raise AssertionError("the gateway did not become ready")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # drains: every socket gets 1001
            assert self.proc.wait(10) == 0

    def publish(self, **kwargs: Any) -> str:
        with Publisher(f"127.0.0.1:{self.grpc_port}", token=None) as publisher:
            return publisher.publish(**kwargs).cursor

    def disconnect(self, user_id: str, code: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            stub.Disconnect(pb.DisconnectRequest(user_id=user_id, code=code), timeout=5)


@pytest.fixture
def start_process() -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(**env: str) -> GatewayProcess:
        process = GatewayProcess(**env)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def gateway(start_process: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_process()


def received_frames(browser: Any) -> list[dict[str, Any]]:
    """The WebSocket text frames Chromium received since the last call (DevTools events)."""
    frames = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.webSocketFrameReceived":
            frame = message["params"]["response"]
            if frame["opcode"] == 1:
                frames.append(json.loads(frame["payloadData"]))
    return frames


class DemoPage:
    """What the demo page shows, read through the browser (Selenium is imported lazily)."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def readers(
        self,
    ) -> tuple[Callable[[str], str], Callable[[], dict[str, str]], Callable[..., list[str]]]:
        return self.text, self.rows, self.log_lines

    def text(self, element_id: str) -> str:
        from selenium.webdriver.common.by import By

        return str(self.browser.find_element(By.ID, element_id).text)

    def rows(self) -> dict[str, str]:
        """Notification type → cursor, as the page shows them."""
        from selenium.webdriver.common.by import By

        found = self.browser.find_elements(By.CSS_SELECTOR, "#notifications tr")
        return {r.get_attribute("data-type"): r.get_attribute("data-cursor") for r in found}

    def log_lines(self, css: str = "li") -> list[str]:
        from selenium.webdriver.common.by import By

        return [li.text for li in self.browser.find_elements(By.CSS_SELECTOR, f"#log {css}")]


def _refused_stream(message: str) -> bool:
    """Over SSE, what Chromium logs for a stream refused while the gateway was down: the
    port closed, or the gateway's own 503 (on Redis it listens before its feed is live and
    refuses streams until then; draining, it refuses them too). Chromium logs every failed
    fetch and the page cannot keep it out of the console; other statuses, other URLs and
    script errors still fail the test."""
    if "/sse?" not in message:
        return False
    return "ERR_CONNECTION_REFUSED" in message or "status of 503" in message


def _failed_stream(message: str) -> bool:
    """Behind a proxy, a stream the proxy could not pass on while the gateway was down
    fails as the proxy drops it (net::ERR_EMPTY_RESPONSE and the like)."""
    return "/sse?" in message and "net::ERR_" in message


@pytest.mark.parametrize("transport", ["websocket", "sse", "auto"])
def test_demo_page_receives_and_resumes_after_a_gateway_restart(
    gateway: GatewayProcess, browser: Any, transport: str, request: pytest.FixtureRequest
) -> None:
    """`auto` goes through a proxy that strips `Upgrade`, so the page falls back to SSE and
    must keep every rule over it, through the restart."""
    from selenium.webdriver.common.by import By

    text, rows, log_lines = DemoPage(browser).readers()
    proxy = ExitStack()
    request.addfinalizer(proxy.close)
    over = "sse" if transport == "auto" else transport
    port = gateway.http_port
    if transport == "auto":
        port = proxy.enter_context(ProxyThread(gateway.http_port, strip_upgrade=True)).port

    base = f"http://127.0.0.1:{port}"
    browser.get(f"{base}/demo?user=alice&topics=news&autoconnect=1&transport={transport}")
    wait_for(lambda: text("state") == "connected", "the page to connect", timeout=30)
    assert text("over") == over

    sent = {
        "to.alice": gateway.publish(users=["alice"], type="to.alice", title="for alice"),
        "to.news": gateway.publish(topic="news", type="to.news", title="for news"),
        "to.all": gateway.publish(everyone=True, type="to.all", title="for everyone"),
        "to.bob": gateway.publish(users=["bob"], type="to.bob", title="not for alice"),
    }
    wait_for(lambda: len(rows()) >= 3, "three notifications on the page")
    time.sleep(0.3)  # room for a wrong one to show up
    assert rows() == {k: v for k, v in sent.items() if k != "to.bob"}
    assert text("cursor") == sent["to.all"]

    # Follow a topic from the page; then a drop (4008) while something is published: the
    # page resumes from its cursor with that topic and shows what it missed.
    browser.find_element(By.ID, "topic").send_keys("sport")
    browser.find_element(By.ID, "follow").click()
    wait_for(lambda: any("subscribed sport" in line for line in log_lines()), "subscribed")
    gateway.disconnect("alice", 4008)
    sent["while.away"] = gateway.publish(topic="sport", type="while.away", title="missed?")
    wait_for(lambda: "while.away" in rows(), "the notification published while away")
    assert rows()["while.away"] == sent["while.away"]
    assert any("code 4008" in line for line in log_lines()), log_lines()
    assert not log_lines("li.resync")

    gateway.stop()
    wait_for(lambda: text("state") in ("disconnected", "connecting"), "the page to see the drop")
    assert any("code 1001" in line for line in log_lines()), log_lines()
    time.sleep(1.0)  # the page retries against a closed port meanwhile
    gateway.start()
    wait_for(lambda: text("state") == "connected", "the page to reconnect", timeout=30)
    # The restarted in-memory log cannot know the old cursor: the page says to refetch.
    wait_for(lambda: log_lines("li.resync"), "the resync event on the page")

    after = gateway.publish(topic="news", type="after.restart", title="back")
    wait_for(lambda: "after.restart" in rows(), "a notification after the restart")
    assert rows()["after.restart"] == after

    assert text("over") == over
    if transport == "websocket":
        screenshot_and_console_check(browser, "demo.png", _websocket_refused)
    elif transport == "sse":
        screenshot_and_console_check(browser, "demo-sse.png", _refused_stream)
    else:  # the failed upgrades, then the streams the proxy dropped while the gateway was down
        allowed = [_websocket_refused, _failed_stream]
        screenshot_and_console_check(
            browser, "demo-auto-restart.png", lambda m: any(a(m) for a in allowed)
        )


def test_demo_page_on_auto_falls_back_to_sse_behind_a_proxy_that_strips_upgrade(
    gateway: GatewayProcess, browser: Any
) -> None:
    text, rows, _ = DemoPage(browser).readers()
    with ProxyThread(gateway.http_port, strip_upgrade=True) as proxy:
        base = f"http://127.0.0.1:{proxy.port}"
        browser.get(f"{base}/demo?user=dora&topics=news&autoconnect=1&transport=auto")
        wait_for(lambda: text("state") == "connected", "the page to connect", timeout=30)
        assert text("over") == "sse"  # two upgrades failed (the proxy dropped Upgrade)
        sent = gateway.publish(topic="news", type="via.sse", title="through the proxy")
        wait_for(lambda: "via.sse" in rows(), "the notification through the proxy")
        assert rows()["via.sse"] == sent
        # The page's failed upgrades are all Chromium may log.
        screenshot_and_console_check(browser, "demo-auto.png", _websocket_refused)


def test_demo_page_with_jwt_sends_the_token_in_the_subprotocol(
    start_process: Callable[..., GatewayProcess], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    secret = "browser-test-secret-of-at-least-32-bytes"
    gateway = start_process(GATEWAY_JWT_SECRET=secret)
    token = jwt.encode({"sub": "carol", "exp": int(time.time()) + 600}, secret, "HS256")
    browser.get(f"http://127.0.0.1:{gateway.http_port}/demo?user=carol&topics=news")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "connect").click()
    state = browser.find_element(By.ID, "state")
    wait_for(lambda: state.text == "connected", "the page to connect with its token")
    # Chromium fails a socket whose offered subprotocols were not selected: connected means
    # the gateway selected notifications.v1; the token stayed out of the URL.
    ws = browser.execute_script(
        "const ws = window.demoClient().channel.socket; return [ws.protocol, ws.url];"
    )
    assert ws[0] == "notifications.v1"
    assert "token" not in ws[1] and token not in ws[1]
    cursor = gateway.publish(users=["carol"], type="with.token", title="signed")
    row = "#notifications tr[data-type='with.token']"
    found = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, row), "the notification")
    assert found[0].get_attribute("data-cursor") == cursor


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_demo_page_on_redis_shows_what_another_replica_published_while_its_gateway_was_down(
    redis_server: RedisServer,
    start_process: Callable[..., GatewayProcess],
    browser: Any,
    transport: str,
) -> None:

    text, rows, log_lines = DemoPage(browser).readers()

    # Redis is started first, so it is stopped last: the gateways drain with it still up.
    a = start_process(GATEWAY_BACKEND=redis_server.url)
    b = start_process(GATEWAY_BACKEND=redis_server.url)
    browser.get(f"{a.base}/demo?user=alice&topics=news&autoconnect=1&transport={transport}")
    wait_for(lambda: text("state") == "connected", "the page to connect to A")
    assert text("over") == transport

    # Two replicas: published through B, shown live by the page on A.
    sent = {
        "live.alice": b.publish(users=["alice"], type="live.alice", title="through B"),
        "live.news": b.publish(topic="news", type="live.news", title="through B"),
    }
    wait_for(lambda: rows() == sent, "both notifications published through B")
    before = text("cursor")
    assert before == sent["live.news"]
    received_frames(browser)  # from here on: the frames of the resume

    a.stop()
    wait_for(lambda: text("state") != "connected", "the page to see A go")
    assert any("code 1001" in line for line in log_lines()), log_lines()
    away = {
        "away.alice": b.publish(users=["alice"], type="away.alice", title="while A was down"),
        "away.news": b.publish(topic="news", type="away.news", title="while A was down"),
    }
    b.publish(users=["bob"], type="away.bob", title="not for alice")
    # The page's retries meet a closed port meanwhile.
    wait_for(lambda: any("code 1006" in line for line in log_lines()), "a refused retry")
    a.start()  # the same port
    wait_for(lambda: text("state") == "connected", "the page to reconnect to A", timeout=30)
    wait_for(lambda: away.keys() <= rows().keys(), "what was published while A was down")
    assert rows() == {**sent, **away}
    assert text("cursor") == away["away.news"]
    # The resume was complete: the shared log still held everything after the page's cursor
    # (the client says `resync` exactly when a `resumed` event says it was not).
    assert not log_lines("li.resync"), log_lines()
    if transport == "websocket":  # DevTools shows WebSocket frames (the SSE reader's fetch: no)
        resumed = [f for f in received_frames(browser) if f["event"] == "resumed"]
        assert resumed == [{"event": "resumed", "since": before, "complete": True, "replayed": 2}]

    after = a.publish(everyone=True, type="after.restart", title="A is back")
    wait_for(lambda: "after.restart" in rows(), "a notification through A after its restart")
    assert rows()["after.restart"] == after

    assert text("over") == transport
    if transport == "websocket":
        screenshot_and_console_check(browser, "demo-redis.png", _websocket_refused)
    else:
        screenshot_and_console_check(browser, "demo-redis-sse.png", _refused_stream)


def test_demo_page_lists_the_registered_types(
    start_process: Callable[..., GatewayProcess], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    gateway = start_process(GATEWAY_TYPES=str(ROOT / "examples" / "types"))
    browser.get(f"{gateway.base}/demo?user=alice&autoconnect=1")

    def listed() -> dict[str, str]:
        found = browser.find_elements(By.CSS_SELECTOR, "#types li")
        return {li.get_attribute("data-type"): li.text for li in found}

    served = json.loads(urllib.request.urlopen(f"{gateway.base}/types").read())
    names = {t["type"] for t in served["types"]}
    wait_for(lambda: set(listed()) == names, "the registered types on the page")
    assert "An order left the warehouse." in listed()["order.shipped"]
    assert "deprecated: use order.shipped" in listed()["order.sent"]
    assert DemoPage(browser).text("types-hash") == served["hash"]
    assert DemoPage(browser).text("types-mode") == "registered"


def test_demo_page_acks_what_it_shows_and_marks_it_read(
    start_process: Callable[..., GatewayProcess], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    gateway = start_process(GATEWAY_RECEIPTS="1")
    text, rows, _ = DemoPage(browser).readers()
    browser.get(f"{gateway.base}/demo?user=dora&autoconnect=1")
    wait_for(lambda: text("state") == "connected", "the page to connect")
    with Publisher(f"127.0.0.1:{gateway.grpc_port}", token=None) as publisher:
        sent = publisher.publish(users=["dora"], type="order.shipped", title="on its way")

        def receipt() -> int:
            with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
                stub = pb_grpc.NotificationGatewayStub(channel)
                found = stub.GetReceipts(pb.GetReceiptsRequest(ids=[sent.id]), timeout=5)
            (user,) = found.receipts[0].users
            return int(user.state)

        wait_for(lambda: "order.shipped" in rows(), "the notification on the page")
        row = browser.find_element(By.CSS_SELECTOR, "#notifications tr[data-type='order.shipped']")
        cell = row.find_element(By.CSS_SELECTOR, ".receipt")
        # the page acked what it showed (by itself, at once: its first): delivered at the gateway
        wait_for(lambda: cell.text == "delivered", "the page to show delivered")
        wait_for(lambda: receipt() == pb.RECEIPT_STATE_DELIVERED, "delivered at the gateway")
        row.find_element(By.CSS_SELECTOR, "button.mark-read").click()
        wait_for(lambda: cell.text == "read", "the page to show read")
        wait_for(lambda: receipt() == pb.RECEIPT_STATE_READ, "read at the gateway")
    screenshot_and_console_check(browser, "demo-receipts.png")
