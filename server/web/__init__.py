"""The web faces, one Flask app (``app.create_app``): the tablets' sync gateway (``/sync``),
OpenRosa for ODK Collect, the JSON API (``/api/v1``) and the clerk app (``/clerk``), with what
every request shares: errors, sign-in, sessions cookies, CSRF, CSP, the masking access log."""
