"""`whisperbench serve -b BACKEND -m MODEL`: the backend behind an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import os

from whisperbench import backends
from whisperbench.backends.base import VERBOSE_ENV
from whisperbench.cli.common import add_model_args, load_options
from whisperbench.errors import WhisperbenchError
from whisperbench.serve import INSTALL_HINT, missing_modules


def register(sub: argparse._SubParsersAction) -> None:
    from whisperbench.serve.main import ServeSettings
    from whisperbench.serve.pool import ISOLATIONS

    d = ServeSettings()
    p = sub.add_parser(
        "serve", help="serve a backend as an OpenAI-compatible endpoint (POST /v1/audio/transcriptions)",
        description="Serve one backend and model over HTTP: POST /v1/audio/transcriptions (OpenAI's fields, plus "
                    "every decoding option by name, e.g. beam_size=5), GET /v1/models, GET /health. "
                    "Needs: pip install 'whisperbench[serve]'.")
    add_model_args(p)
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}: this machine only)")
    p.add_argument("--port", type=int, default=d.port, help=f"default {d.port}")
    p.add_argument("--workers", type=int, default=d.workers,
                   help=f"requests decoded at once, each by its own copy of the model (default {d.workers})")
    p.add_argument("--isolation", choices=ISOLATIONS, default=d.isolation,
                   help="process: each worker is a child process, so a runtime crash fails only its request and the "
                        "worker restarts; thread: workers share the server's process (least overhead, but a crash "
                        f"in the runtime ends the server) (default {d.isolation})")
    p.add_argument("--queue-size", type=int, default=d.queue_size,
                   help=f"requests that may wait for a worker; beyond it the answer is 503 (default {d.queue_size})")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb,
                   help=f"largest upload accepted; larger ones get 413 (default {d.max_upload_mb:g})")
    p.add_argument("--request-timeout", type=float, metavar="SECONDS",
                   help="a worker that decodes one request longer than this is killed and restarted, and that "
                        "request gets 504 (needs --isolation process; default: no limit)")
    p.add_argument("--model-id", help="the model name /v1/models lists (default: --model)")
    p.add_argument("--quiet", "-q", action="store_true", help="no startup line and no access log")
    p.add_argument("--verbose", "-v", action="store_true", help="let the runtime print its own logs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whisperbench.serve.main import ServeSettings, serve

    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    missing = missing_modules()
    if missing:
        raise WhisperbenchError(f"whisperbench serve needs {', '.join(missing)}, which is not installed; "
                                f"install it with: {INSTALL_HINT}")
    backends.get(args.backend)  # unknown or not installed: one line, before anything loads
    settings = ServeSettings(host=args.host, port=args.port, workers=args.workers, queue_size=args.queue_size,
                             isolation=args.isolation, max_upload_mb=args.max_upload_mb,
                             request_timeout_s=args.request_timeout)
    serve(args.backend, args.model, load_options(args), settings, model_id=args.model_id, quiet=args.quiet)
    return 0

