"""A local HTTP server standing for a real gateway or partner platform in tests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway:
    """A scripted HTTP server: each request takes the next behaviour of `script` (an HTTP
    status, or "hang" to answer 200 after the client's timeout); the last one repeats. A 200
    answers `answer(request body)` as JSON."""

    def __init__(self, script, answer=lambda body: {}):
        self.script = list(script)
        self.requests = []
        self.arrivals = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests.append(body)
                gateway.arrivals.append(time.monotonic())
                behaviour = gateway.script.pop(0) if len(gateway.script) > 1 else gateway.script[0]
                if behaviour == "hang":
                    time.sleep(1.0)
                    behaviour = 200
                try:
                    self.send_response(behaviour)
                    self.end_headers()
                    self.wfile.write(json.dumps(answer(body) if behaviour == 200 else {}).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (its timeout): what "hang" is for

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
