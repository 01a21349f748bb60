"""checkov on the synthesized JSON: every failure is fixed or accepted in checkov-accepted.json with a reason."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def checkov_command() -> list[str]:
    """checkov lives in its own virtualenv (its pins clash with the runtime's); see the Makefile."""
    explicit = os.environ.get("CHECKOV")
    candidates = [explicit] if explicit else [str(ROOT / ".venv-checkov" / "bin" / "checkov"), shutil.which("checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return [candidate]
    pytest.fail("checkov is not installed: run `make .venv-checkov/.installed` or set CHECKOV=/path/to/checkov")


def failed_checks(tmp_path: Path, doc: dict) -> list[tuple[str, str]]:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [*checkov_command(), "-f", str(path), "--framework", "terraform_json", "--skip-download", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "terraform_json")
    results = report.get("results", {})
    assert report.get("summary", {}).get("passed", 0) > 0 or results.get("passed_checks"), "checkov checked nothing"
    return sorted({(f["check_id"], f["resource"]) for f in results.get("failed_checks", [])})


def accepted() -> list[dict]:
    return json.loads((ROOT / "checkov-accepted.json").read_text())["accepted"]


def acceptance_for(check: str, resource: str) -> int | None:
    """Index of the entry that accepts this failure. checkov names resources "<type>.<name>" or "resource.<name>"."""
    name = resource.split(".", 1)[1]
    for index, entry in enumerate(accepted()):
        type_pattern, name_pattern = entry["resource"].split("\\.", 1)
        if entry["check"] == check and (re.fullmatch(entry["resource"], resource) or re.fullmatch(name_pattern, name)):
            return index
    return None


def test_every_accepted_failure_states_its_own_reason_in_a_sentence():
    """What this can check of a reason (its truth is for review): a real sentence, not a placeholder, and not
    one reason pasted under several entries."""
    reasons = [entry["reason"] for entry in accepted()]
    for entry in accepted():
        reason = entry["reason"]
        assert entry["check"] and entry["resource"], entry
        assert len(reason.split()) >= 8 and reason.rstrip().endswith((".", ")")), reason
        assert not re.search(r"\b(todo|tbd|n/a|fixme)\b", reason, re.I), reason
    assert len(set(reasons)) == len(reasons), "one reason per accepted failure"


@pytest.fixture(scope="module")
def failures(
    default_synth, full_synth, existing_synth, existing_full_synth, snap_start_synth, tmp_path_factory
) -> dict[str, list]:
    synths = {
        "default": default_synth,
        "full": full_synth,
        "existing": existing_synth,
        "existing_full": existing_full_synth,
        "snap_start": snap_start_synth,
    }
    return {name: failed_checks(tmp_path_factory.mktemp(name), s.doc) for name, s in synths.items()}


@pytest.mark.parametrize("stack", ["default", "full", "existing", "existing_full", "snap_start"])
def test_no_unaccepted_checkov_failure(failures, stack):
    unaccepted = [f for f in failures[stack] if acceptance_for(*f) is None]
    assert unaccepted == [], "fix these or accept them with a true reason in checkov-accepted.json"


def test_every_accepted_entry_still_fails_somewhere(failures):
    # The list stays honest: an entry that no longer matches any failure must go.
    used = {acceptance_for(*f) for stack in failures.values() for f in stack}
    assert [e for i, e in enumerate(accepted()) if i not in used] == []


def test_everything_on_fixes_what_the_default_accepts(failures):
    """VPC placement is checked, and passes, once subnets are given."""
    assert not any(check == "CKV_AWS_117" for check, _ in failures["full"])
