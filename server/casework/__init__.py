"""Pure decisions on a case, no I/O: review states and actions (``review``), risk tiers and their
policy (``tiers``, ``policy``), identification deadlines (``identification``), the roster's rows
(``roster``), masking personal data (``privacy``) and the tables clerks export (``exports``)."""
