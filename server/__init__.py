"""The Fangpin service, in rooms that follow the data (arrows point down only; ``tests/test_layout.py``):

* ``ops`` — the ``fangpin`` command, the supervisor of ``serve``, the demo loader.
* ``web`` — the Flask app and its faces: sync gateway, OpenRosa, JSON API, clerk app.
* ``pipeline`` — reads and writes CouchDB on the domain's behalf: the worker, the household and
  policy stores, the clerks' read model and actions, the roster import.
* ``casework`` — pure decisions on a case: review states, risk tiers and their policy,
  identification deadlines, roster parsing, masking, export tables.
* ``households`` — pure: the household record (versions, merge) and matching surveys to it.
* ``access`` — accounts, villages, devices, sessions and lock-out, kept in ``fp_accounts``.
* ``validation`` — pure: a submission to a list of issues.
* ``refusals`` — the bilingual refusal every room raises.
"""
