"""Stage 08: review and correct the clusters in the browser. Serves a local web page over the run
(every cluster with all its images, paged; select, move, merge, rename, mark outliers, undo) and
saves the result beside the original: clusters_reviewed.csv and labels_pred_reviewed.txt (stage
05 then scores it too). Opens nothing by itself; Ctrl-C stops it."""
from __future__ import annotations

import logging
import secrets
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from evaluate.review import ReviewState
from evaluate.review_app import create_app, make_review_server

KEYS = ("RAW_DIR", "RUN_DIR", "BACKBONE")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS, prog)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other needs the token "
                             "printed with the URL)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    args, config = parse_config(parser, argv, overrides)
    if not args.verbose:                      # one log line per request: only with --verbose
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = ReviewState(config.work_dir, config.run_dir)
    token = "" if args.host in LOCAL_HOSTS else secrets.token_urlsafe(16)
    try:
        server = make_review_server(create_app(state, config.RAW_DIR, token), args.host, args.port)
    except OSError as error:
        raise SomclustError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); "
                            "pass another --port") from None
    query = f"/?token={token}" if token else "/"
    print(f"review {len(state.files)} images of {config.run_dir}: "
          f"http://{args.host}:{server.server_port}{query}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()              # returns on Ctrl-C (werkzeug catches it)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"review stopped; what was saved is in {config.run_dir}/clusters_reviewed.csv",
          flush=True)
    return 0
