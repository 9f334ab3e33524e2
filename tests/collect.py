"""Two real XForm engines, driven as a worker fills a form, with one script and one report.

* **JavaRosa** — ODK Collect's engine, the one pyxform ships inside ODK Validate (JavaRosa 5.1):
  ``engines/CollectDriver.java`` is compiled against that jar with the JDK from
  ``scripts/install --test`` once per test session, and steps through the form as Collect does.
* **ODK Web Forms' engine** — ``@getodk/xforms-engine`` 0.22 from the npm lockfile (the engine
  ODK Web Forms 0.22 is built on), in headless Debian Chromium through ``playwright-core``
  (``engines/webforms.mjs``); no browser is downloaded.

A *run* is a worker's pass through one form: the answers they give (by instance path, 1-based
repeat positions) and how many repeat entries they add. Each engine reports every question it
showed (``before``: what the form already held), its verdict on every answer (``ok``,
``constraint``, ``required``, ``no_such_choice``) with its message, ``invalid`` (the first question
that stops the form being finalised, with its message) and the instance it would send.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyxform.validators.odk_validate import ODK_VALIDATE_PATH

from forms.spec import FormSpec

ENGINES = Path(__file__).parent / "engines"
DRIVER = ENGINES / "CollectDriver.java"
WEB_FORMS = ENGINES / "webforms.mjs"


@dataclass
class Run:
    name: str
    answers: dict[str, str]
    repeats: dict[str, int] = field(default_factory=dict)


def compile_driver(into: Path) -> Path:
    subprocess.run(["javac", "-nowarn", "-cp", ODK_VALIDATE_PATH, "-d", str(into), str(DRIVER)],
                   check=True, capture_output=True, text=True)  # fmt: skip
    return into


def step_through(classes: Path | None, form_xml: bytes, media: dict[str, bytes], runs: list[Run],
                 **properties: str) -> list[dict]:  # fmt: skip
    """Each run in a fresh form session (one JVM, or one Chromium, for all of them): in JavaRosa
    with the driver compiled into ``classes``, in Web Forms' engine when ``classes`` is None."""
    script = {"properties": properties, "runs": [vars(r) for r in runs]}
    args = ["form.xml", "media", "script.json", "out.json"]
    if classes is None:
        command = ["node", str(WEB_FORMS), *args]
    else:
        command = ["java", "-cp", f"{ODK_VALIDATE_PATH}:{classes}", "CollectDriver", *args]
    results = _engine(command, form_xml, media, script)
    for result in results:  # Web Forms lists what stops the submission; the first is what Collect names
        violations = result.get("violations")
        if violations:
            result["invalid"] = violations[0]
    return results


def _engine(command: list[str], form_xml: bytes, media: dict[str, bytes], script: dict | None = None) -> Any:
    """Run an engine driver in a folder holding the form, its media and the script; its report."""
    with tempfile.TemporaryDirectory(prefix="fangpin-engine-") as tmp:
        folder = Path(tmp)
        (folder / "form.xml").write_bytes(form_xml)
        (folder / "media").mkdir()
        for name, body in media.items():
            (folder / "media" / name).write_bytes(body)
        if script is not None:
            (folder / "script.json").write_text(json.dumps(script, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise AssertionError(f"{command[0]} failed:\n{done.stderr[-4000:]}")
        return json.loads((folder / "out.json").read_text(encoding="utf-8"))


def answers_for(spec: FormSpec, data: dict) -> tuple[dict[str, str], dict[str, int]]:
    """A record's answers as a worker enters them in this form: by instance path, and how many
    entries each repeat gets added beyond the first one the form opens with."""
    answers: dict[str, str] = {}
    repeats: dict[str, int] = {}

    def top(f) -> str:
        return f"/{spec.root}/{f.xml_path}"

    def text(value) -> str:
        return " ".join(value) if isinstance(value, list) else str(value)

    for key, value in data.items():
        f = spec.fields.get(key)
        if f is None or f.calculate:  # the form works these out itself
            continue
        if f.kind != "repeat":
            answers[top(f)] = text(value)
            continue
        repeats[top(f)] = max(len(value) - 1, 0)
        for n, entry in enumerate(value, start=1):
            for sub_key, sub_value in entry.items():
                sub = spec.fields.get(f"{key}/{sub_key}")
                if sub is not None and not sub.calculate:
                    answers[f"{top(f)}[{n}]{sub.xml_path[len(f.xml_path) :]}"] = text(sub_value)
    return answers, repeats


def render_in_web_forms(form_xml: bytes, media: dict[str, bytes], screenshot: Path | None = None) -> dict:
    """The form mounted in the real ODK Web Forms 0.22 UI: ``loaded``, the page's ``text`` (or the
    load-failure dialog's), page ``errors``; a screenshot of the first screen if asked."""
    command = ["node", str(WEB_FORMS), "--render", "form.xml", "media", "out.json"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        command.append(str(screenshot))
    return _engine(command, form_xml, media)
