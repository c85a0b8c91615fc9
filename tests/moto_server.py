"""moto_server, serving one request at a time.

moto applies TransactWriteItems without a lock, so on moto_server's default
threaded server two concurrent transactions on the same items can both pass
their conditions. DynamoDB serialises them; serving one request at a time
gives moto the same guarantee, which the concurrency tests rely on. This is
moto_server's own entry point (moto.server.main) with threaded=False.
"""

import os
import sys

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])

# A test binary that starts its own server (functions/tests/support/moto.rs)
# keeps its standard input open; when the binary exits the pipe closes and
# so does the server, whatever way the binary ended.
if "--exit-on-stdin-eof" in sys.argv[3:]:
    import threading

    def exit_at_eof():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_at_eof, daemon=True).start()
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
