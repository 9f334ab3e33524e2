"""Between CouchDB and the domain: the worker that reviews, merges and tiers every survey, the
household and policy stores it writes through, and what a clerk's screen reads (``readmodel``) and
does (``review_actions``, ``roster_import``). The decisions themselves live in ``casework`` and
``households``; here they are fed and their results stored, idempotently and audited."""
