"""Fixtures of the data in and out tests: real HTTP receivers of webhooks on loopback."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leads.webhooks import SIGNATURE_HEADER, signature_verify

RECEIVER_SECRET = "whsec-test-secret"


@dataclass
class Received:
    event: str
    body: dict
    signature_ok: bool
    headers: dict


@dataclass
class Receiver:
    url: str
    status: int
    received: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


def _serve(status: int):
    receiver = Receiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = signature_verify(secret=RECEIVER_SECRET, header=self.headers.get(SIGNATURE_HEADER, ""), body=body)
            receiver.received.append(
                Received(
                    self.headers.get("LeadCRM-Event"),
                    json.loads(body),
                    ok,
                    {k.lower(): v for k, v in self.headers.items()},
                )
            )
            # A receiver that cannot verify the signature refuses the delivery.
            self.send_response(receiver.status if ok else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    # Port 0: the system picks a free port, so two test sessions at once do not collide.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, receiver


@pytest.fixture
def receiver():
    """A receiver on a free loopback port that verifies the signature and answers 200."""
    server, receiver = _serve(200)
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def failing_receiver():
    """A receiver on a free loopback port that verifies the signature and answers 500."""
    server, receiver = _serve(500)
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin_client_for_data(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def submit_client(db):
    """An API client with a fresh integration key of the submit scope."""
    from rest_framework.test import APIClient

    from leads.api.auth import api_key_create

    new = api_key_create(name="test-submit", scopes=["submit"], form_name="")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.raw_key}")
    return client
