"""WSGI entry point for gunicorn: ``server.wsgi:app``."""

from .app import create_app

app = create_app()
