"""Who may act: accounts and villages (``accounts``), tablet enrolment and devices
(``enrolment``), clerks' server-side sessions (``sessions``) and the sign-in lock-out
(``lockout``), all kept in ``fp_accounts``."""
