"""A webhook receiver for keyward's delivery tests: it checks every delivery
with the `standardwebhooks` package (as a platform's receiver would) and
records it, and it can be told to misbehave for the next requests.

    webhook_receiver.py            prints "PORT <n>" once it listens

Control (JSON):
    PUT  /_control  {"secret": "whsec_...", "secrets": {"/path": "whsec_..."},
                     "plan": ["fail", "timeout", ...]}
                    (a path's own secret, else "secret", checks its deliveries)
    GET  /_received  every delivery so far, in arrival order
Each request to any other path takes the next step of the plan, then "ok":
    ok        204
    fail      500
    timeout   sleeps 30 s, then 204 (the deliverer gives up before)
    redirect  302 to /_redirected on this server (which records a hit)
    close     closes the connection without an answer
    huge      200 with an endless chunked body
"""

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

state = {"secret": None, "secrets": {}, "plan": [], "received": [], "redirected": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_received":
            with lock:
                body = json.dumps(
                    {"received": state["received"], "redirected": state["redirected"]}
                ).encode()
            return self.answer(200, body, [("Content-Type", "application/json")])
        if self.path == "/_redirected":
            with lock:
                state["redirected"] += 1
            return self.answer(204)
        self.answer(404)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        control = json.loads(self.rfile.read(length) or b"{}")
        with lock:
            if "secret" in control:
                state["secret"] = control["secret"]
            state["secrets"].update(control.get("secrets", {}))
            state["plan"] = list(control.get("plan", []))
        self.answer(204)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            step = state["plan"].pop(0) if state["plan"] else "ok"
            secret = state["secrets"].get(self.path, state["secret"])
        verified, error = False, None
        try:
            Webhook(secret).verify(body, dict(self.headers.items()))
            verified = True
        except (WebhookVerificationError, Exception) as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
        with lock:
            state["received"].append(
                {
                    "path": self.path,
                    "step": step,
                    "verified": verified,
                    # A request cut short (its sender killed mid-send).
                    "complete": len(body) == length,
                    "error": error,
                    "webhook_id": self.headers.get("webhook-id"),
                    "webhook_timestamp": self.headers.get("webhook-timestamp"),
                    "body": body.decode("utf-8", "replace"),
                    "at": time.time(),
                }
            )
        if step == "ok":
            return self.answer(204)
        if step == "fail":
            return self.answer(500, b"boom")
        if step == "timeout":
            time.sleep(30)
            return self.answer(204)
        if step == "redirect":
            return self.answer(302, headers=[("Location", "/_redirected")])
        if step == "close":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if step == "huge":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                self.close_connection = True
            return
        self.answer(400)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
