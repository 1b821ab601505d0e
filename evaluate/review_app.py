"""The review web app: a Flask app over a :class:`evaluate.review.ReviewState`.

Only the run's own images are served (a file name is looked up among the run's images, never
joined to a path as given), as thumbnails. Bound to 127.0.0.1 by default; with a token (needed
for any other host) every request must carry it (``?token=`` or the ``X-Somclust-Token`` header).
"""
from __future__ import annotations

import hmac
from importlib.resources import files as package_files
from pathlib import Path, PurePosixPath

from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from common.errors import SomclustError
from common.images import encode_png
from evaluate.montage import thumbnail
from evaluate.review import ReviewState

THUMBNAIL_SIDE = 112


def safe_image_path(state: ReviewState, raw_dir: Path, file: str) -> Path | None:
    """The raw image of ``file`` when it is one of the run's images, relative, without '..',
    and a regular file inside ``raw_dir``; None otherwise."""
    parts = PurePosixPath(file).parts
    if file not in state or not parts or PurePosixPath(file).is_absolute() or ".." in parts:
        return None
    path = raw_dir / file
    if not path.is_file() or not path.resolve().is_relative_to(raw_dir.resolve()):
        return None
    return path


def create_app(state: ReviewState, raw_dir: str | Path, token: str = "") -> Flask:
    """The app: the page at /, the clusters and the changes under /api, thumbnails at /thumb."""
    app = Flask("somclust.review")
    raw_dir = Path(raw_dir)
    page = (package_files("evaluate") / "review_page.html").read_text(encoding="utf-8")

    @app.before_request
    def require_token():
        given = request.args.get("token") or request.headers.get("X-Somclust-Token") or ""
        if token and not hmac.compare_digest(given.encode(), token.encode()):
            abort(403)

    @app.errorhandler(SomclustError)
    def refused(error: SomclustError):
        return jsonify(error=str(error)), 400

    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise SomclustError("expected a JSON object")
        return data

    def as_cluster(value, allow_new: bool = False) -> int | None:
        if allow_new and value in (None, "new"):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SomclustError(f"not a cluster id: {value!r}") from None

    @app.get("/")
    def index():
        return Response(page, mimetype="text/html")

    @app.get("/api/clusters")
    def clusters():
        return jsonify(state.clusters())

    @app.get("/api/clusters/<int(signed=True):cluster>")
    def members(cluster: int):
        return jsonify(state.members(cluster, request.args.get("offset", 0, type=int),
                                     request.args.get("limit", 100, type=int)))

    @app.get("/api/duplicates")
    def duplicates():
        return jsonify(state.duplicates())

    @app.get("/api/farthest")
    def farthest():
        return jsonify(state.farthest(request.args.get("offset", 0, type=int),
                                      request.args.get("limit", 100, type=int)))

    @app.post("/api/keep")
    def keep():
        return jsonify(cluster=state.keep_one(str(body().get("file", ""))))

    @app.get("/thumb")
    def thumb():
        path = safe_image_path(state, raw_dir, request.args.get("file", ""))
        if path is None:
            abort(404)
        response = Response(encode_png(thumbnail(path, THUMBNAIL_SIDE)), mimetype="image/png")
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.post("/api/move")
    def move():
        data = body()
        files = data.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise SomclustError("files must be a list of file names")
        return jsonify(cluster=state.move(files, as_cluster(data.get("target"), True)))

    @app.post("/api/merge")
    def merge():
        data = body()
        return jsonify(cluster=state.merge(as_cluster(data.get("source")),
                                           as_cluster(data.get("target"))))

    @app.post("/api/rename")
    def rename():
        data = body()
        state.rename(as_cluster(data.get("cluster")), str(data.get("name", "")))
        return jsonify(ok=True)

    @app.post("/api/undo")
    def undo():
        return jsonify(undone=state.undo())

    @app.post("/api/save")
    def save():
        return jsonify(state.save())

    return app


def make_review_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded HTTP server for ``app`` (port 0: a free one); ``serve_forever()`` runs it."""
    return make_server(host, port, app, threaded=True)
