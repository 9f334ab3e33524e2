"""Published form versions as compiled specs, read from ``fp_forms`` and cached.

The worker validates every submission against the version it names; the clerk app labels every
answer with that version's labels. Both read the catalog here: each XForm is fetched and compiled
once (keyed by its doc id and hash), and the list of versions is re-read after ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from forms import version_key
from forms.spec import FormSpec, spec_for
from sync import names
from sync.couch import Couch


@dataclass
class FormCatalog:
    admin: Couch
    ttl_s: float = 30.0
    _forms: dict[str, dict[str, FormSpec]] = field(default_factory=dict)
    _specs: dict[tuple[str, str | None], FormSpec] = field(default_factory=dict)
    _at: float = -1e9
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, refresh: bool = False) -> dict[str, dict[str, FormSpec]]:
        """form id -> version -> spec."""
        with self._lock:
            if refresh or time.monotonic() - self._at > self.ttl_s:
                catalog: dict[str, dict[str, FormSpec]] = {}
                for doc in self.admin.iter_prefix(names.FORMS, "form:"):
                    key = (doc["_id"], doc.get("hash"))
                    if key not in self._specs:
                        xml = self.admin.get_attachment(names.FORMS, doc["_id"], "xform.xml")
                        if xml is None:
                            continue
                        self._specs[key] = spec_for(xml)
                    catalog.setdefault(doc["form_id"], {})[doc["version"]] = self._specs[key]
                self._forms, self._at = catalog, time.monotonic()
            return self._forms

    def newest(self, form_id: str) -> FormSpec | None:
        """The newest published version of a form (versions ordered as publishing orders them)."""
        versions = self.get().get(form_id) or {}
        return versions[max(versions, key=version_key)] if versions else None

    def spec(self, form_id: str | None, version: str | None) -> FormSpec | None:
        versions = self.get().get(form_id or "", {})
        if version not in versions:
            versions = self.get(refresh=True).get(form_id or "", {})
        return versions.get(version or "")
