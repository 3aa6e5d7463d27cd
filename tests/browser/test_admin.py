"""The operators' page in headless Chromium against a live `python -m gateway` with an ops
port and a publish token: the page asks for the token, shows the live figures (connections,
rates, refusals by reason), and its presence, publish and disconnect buttons act on real
WebSocket clients. The screenshot is written to test-artifacts/admin.png."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from gateway.client import Publisher
from tests.support.chromium import needs_chromium, screenshot_and_console_check, wait_for
from tests.support.helpers import free_port

pytestmark = needs_chromium

TOKEN = "admin-s3cret"


class AdminGateway:
    """`python -m gateway` with an ops port and a publish token."""

    def __init__(self) -> None:
        self.http_port, self.grpc_port, self.ops_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_"))}
        env.update(
            GATEWAY_HTTP_PORT=str(self.http_port),
            GATEWAY_GRPC_PORT=str(self.grpc_port),
            GATEWAY_OPS_PORT=str(self.ops_port),
            GATEWAY_PUBLISH_TOKENS=TOKEN,
            GATEWAY_LOG_LEVEL="WARNING",
        )
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
        wait_for(self._ready, "the gateway to be ready", 20)

    def _ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.ops_port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def client(self, user_id: str) -> ClientConnection:
        ws = ws_connect(f"ws://127.0.0.1:{self.http_port}/ws?user_id={user_id}", legacy=True)
        assert json.loads(ws.recv(timeout=5))["event"] == "welcome"
        return ws

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def gateway() -> Iterator[AdminGateway]:
    gateway = AdminGateway()
    yield gateway
    gateway.stop()


def test_the_admin_page_shows_live_figures_and_its_buttons_act(
    gateway: AdminGateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def text(element_id: str) -> str:
        return str(browser.find_element(By.ID, element_id).text)

    def table(body_id: str) -> list[list[str]]:
        """A table's cells, read in one call: the page replaces its rows every second, so
        elements found one by one could go stale in between."""
        rows = browser.execute_script(
            "return [...document.querySelectorAll(`#${arguments[0]} tr`)]"
            ".map((row) => [...row.cells].map((cell) => cell.textContent))",
            body_id,
        )
        return [[str(cell) for cell in row] for row in rows]

    def cell(replica_column: int) -> str:
        return table("replica-rows")[0][replica_column]

    tabs = [gateway.client("alice"), gateway.client("alice")]
    bob = gateway.client("bob")
    browser.get(f"http://127.0.0.1:{gateway.ops_port}/admin")
    token_form = browser.find_element(By.ID, "token-form")
    wait_for(token_form.is_displayed, "the page to ask for the publish token")
    assert text("status") == "error"
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "use-token").click()
    wait_for(lambda: text("status") == "live", "live figures")
    assert not token_form.is_displayed()
    wait_for(lambda: text("connections") == "3", "3 connections")
    assert text("replicas") == "1" and text("backend") == "memory"
    assert text("backend-state") == "1 of 1"
    assert table("refusal-rows") == []

    # a refused WebSocket (400): counted as it happens, in the last minute and in all
    refused = urllib.request.Request(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=a%20b")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(refused, timeout=5)

    wait_for(lambda: table("refusal-rows") == [["connect: refused (400)", "1", "1"]], "the refusal")

    # rates: publish until the page shows them (bounded; no assertion on their value)
    with Publisher(f"127.0.0.1:{gateway.grpc_port}", token=TOKEN) as publisher:
        deadline = time.monotonic() + 20
        while float(cell(3) or 0) == 0 and time.monotonic() < deadline:
            for _ in range(5):
                publisher.publish(users=["bob"], type="load.tick", title="tick")
            time.sleep(0.2)
    assert float(cell(3)) > 0 and float(cell(4)) > 0  # bob's ticks (he never reads them)

    browser.find_element(By.ID, "user").send_keys("alice")
    browser.find_element(By.ID, "lookup").click()
    wait_for(lambda: text("user-result") == "alice: 2 connections", "alice's presence")

    Select(browser.find_element(By.ID, "target")).select_by_value("users")
    browser.find_element(By.ID, "to").send_keys("alice")
    browser.find_element(By.ID, "publish").click()
    wait_for(lambda: text("publish-result").startswith("published"), "the test publish")
    assert text("publish-result").endswith("delivered here to 2")
    for tab in tabs:
        frame = json.loads(tab.recv(timeout=5))
        assert frame["notification"]["type"] == "admin.test"
        assert frame["notification"]["title"] == "Test from the admin page"

    # the first poll's 401, before the token was given, is the one error the console may hold
    screenshot_and_console_check(browser, "admin.png", lambda message: "401" in message)

    browser.find_element(By.ID, "disconnect").click()
    wait_for(lambda: text("user-result") == "alice: closed 2 connections (4009)", "disconnect")
    for tab in tabs:
        with pytest.raises(Exception) as closed:
            tab.recv(timeout=5)
        assert tab.close_code == 4009, closed.value
    wait_for(lambda: text("connections") == "1", "bob alone")
    bob.close()
