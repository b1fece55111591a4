"""moto's standalone S3 server on 127.0.0.1, a real HTTP endpoint the CLI (a subprocess) talks to.

It checks credentials (IAM users of its own): the keys below are the only ones it takes, so a test
of wrong credentials gets the refusal a real store gives. A gate can hold one part upload, so a test
can stop the server in the middle of an upload and start it again on the same port, its buckets kept.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Gate:
    """Holds the ``hold_at``-th part upload (counted from when it is armed) until released."""

    hold_at: int = 0  # 0: open
    seen: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def arm(self, hold_at: int) -> None:
        self.hold_at, self.seen = hold_at, 0
        self.reached.clear()
        self.release.clear()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def gated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            query = environ.get("QUERY_STRING", "")
            if self.hold_at and environ.get("REQUEST_METHOD") == "PUT" and "partNumber=" in query:
                self.seen += 1
                if self.seen == self.hold_at:
                    self.reached.set()
                    self.release.wait(60)
                    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                    return [b"going away"]
            return app(environ, start_response)

        return gated


class MotoS3(ThreadedMotoServer):
    """The server, restartable on its port, with ``Gate`` in front of moto's app."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.gate = Gate()
        self.access_key = ""
        self.secret_key = ""

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request drowns a failure's report
        app = self.gate.wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        """As a crash looks to a client: the port refuses connections from now on."""
        super().stop()
        if self._server is not None:
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def require_credentials(self) -> None:
        """From here on only the keys of a user made now are taken (moto's IAM check, off by default)."""
        steps = 3  # the IAM calls below are the last ones made without keys
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=str(steps).encode(), method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as response:
            json.load(response)
        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")
        iam.create_user(UserName="backup")
        iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="backup")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self) -> S3Client:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, config=Config(s3={"addressing_style": "path"}))
