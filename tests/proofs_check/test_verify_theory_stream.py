"""``verify theory`` reports each claim as soon as it finishes, then the table and the JSON."""

from __future__ import annotations

import json

from proofs_check.claims import verify_theory
from qopt.cli import main

CHEAP = ["projection_exact", "cone_orthogonality"]


def test_callbacks_stream_in_order():
    events = []
    rep = verify_theory(only=CHEAP,
                        on_start=lambda i, n, name: events.append(("start", i, n, name)),
                        on_result=lambda i, n, c: events.append(("done", i, n, c.name,
                                                                 c.status)))
    assert events == [("start", 1, 2, CHEAP[0]), ("done", 1, 2, CHEAP[0], "pass"),
                      ("start", 2, 2, CHEAP[1]), ("done", 2, 2, CHEAP[1], "pass")]
    assert rep.passed


def test_cli_one_line_per_claim_on_stderr_table_on_stdout(tmp_path, capsys):
    out = tmp_path / "theory.json"
    assert main(["verify", "theory", "--only", *CHEAP, "--json", str(out)]) == 0
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("[verify theory]")]
    assert len(lines) == 2
    assert lines[0].startswith(f"[verify theory] 1/2 pass {CHEAP[0]}: figure ")
    assert lines[1].startswith(f"[verify theory] 2/2 pass {CHEAP[1]}: figure ")
    assert "all checks passed" in cap.out and "[verify theory]" not in cap.out
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["checks"]] == CHEAP and data["passed"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
