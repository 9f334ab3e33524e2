"""Transport: how data reaches CouchDB and how every layer finds it.

The CouchDB client (``couch``), the embedded default server (``embedded``), bringing a server to
Fangpin's layout (``bootstrap``), settings from the environment, and what every layer needs of
names (``names``: databases and doc ids), time (``clock``), the audit trail and the published
forms. Nothing here knows a rule of the domain; nothing here imports ``server``.
"""
