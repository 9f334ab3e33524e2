"""WSGI entry point for gunicorn: ``server.web.wsgi:app`` (one app per gunicorn worker process)."""

from server.access.accounts import list_villages
from server.web.app import create_app

app = create_app()
# Each worker reads the clerk screens' read model in as it starts, not on the first clerk's request.
app.extensions["fangpin.readmodel"].warm_up(
    lambda: [v.code for v in list_villages(app.extensions["fangpin.couch"].admin)]
)
