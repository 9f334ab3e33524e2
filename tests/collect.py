"""JavaRosa — ODK Collect's form engine — driven as Collect steps through a form.

The engine is the one pyxform ships inside ODK Validate (JavaRosa 5.1); ``engines/CollectDriver.java``
is compiled against that jar with the JDK from ``scripts/install --test`` once per test session.
A *run* is a worker's pass through one form: the answers they give (by instance path, 1-based
repeat positions) and how many repeat entries they add. The engine reports every question it
showed, its verdict on every answer (with its message), Collect's final validation and the
instance it would send.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pyxform.validators.odk_validate import ODK_VALIDATE_PATH

from forms.spec import FormSpec

DRIVER = Path(__file__).parent / "engines" / "CollectDriver.java"


@dataclass
class Run:
    name: str
    answers: dict[str, str]
    repeats: dict[str, int] = field(default_factory=dict)


def compile_driver(into: Path) -> Path:
    subprocess.run(["javac", "-nowarn", "-cp", ODK_VALIDATE_PATH, "-d", str(into), str(DRIVER)],
                   check=True, capture_output=True, text=True)  # fmt: skip
    return into


def step_through(classes: Path, form_xml: bytes, media: dict[str, bytes], runs: list[Run],
                 **properties: str) -> list[dict]:  # fmt: skip
    """Each run in a fresh form session (one JVM for all of them)."""
    with tempfile.TemporaryDirectory(prefix="fangpin-collect-") as tmp:
        folder = Path(tmp)
        (folder / "form.xml").write_bytes(form_xml)
        (folder / "media").mkdir()
        for name, body in media.items():
            (folder / "media" / name).write_bytes(body)
        script = {"properties": properties, "runs": [vars(r) for r in runs]}
        (folder / "script.json").write_text(json.dumps(script, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run(
            ["java", "-cp", f"{ODK_VALIDATE_PATH}:{classes}", "CollectDriver", "form.xml", "media", "script.json",
             "out.json"], cwd=folder, capture_output=True, text=True, timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"JavaRosa failed:\n{done.stderr[-4000:]}")
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
