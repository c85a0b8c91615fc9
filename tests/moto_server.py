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
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
