"""The numbers the README states are the numbers the code produces (issue 23): the runs of the
quick preset and of the Study section's commands (computed by the study loader from the same
preset and the same ``--set`` edits), the claims of ``qopt verify theory`` and the theory
figures; and the claims caveat appears where the README promises verified closed forms."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from qopt.study import PRESETS, parse_toml, study_from_dict
from qopt.train.values import parse_sets

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def _cells(sets: list[str]) -> list[str]:
    study = study_from_dict(parse_toml(PRESETS["quick"]), parse_sets(sets))
    return [c.run_id for c in study.cells]


def _set_args(line: str) -> list[str]:
    words = shlex.split(line)
    return [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def test_install_section_counts_the_quick_preset_runs():
    cells = _cells([])
    epochs = parse_toml(PRESETS["quick"])["base"]["epochs"]
    text = " ".join(_section("Install and run").split())
    assert f"({len(cells)} runs of {epochs} epochs" in text
    assert f"passes on all {len(cells)} runs" in text
    import qopt.study.presets as presets

    assert f"({len(cells)} runs)" in " ".join(presets.__doc__.split())


def test_study_section_counts_the_runs_its_commands_train():
    section = _section("Study")
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    runs = [ln for ln in block.splitlines() if ln.startswith("qopt study my.toml")]
    assert len(runs) == 2, runs
    first, second = (_cells(_set_args(ln)) for ln in runs)
    assert set(first) <= set(second)
    new = len(second) - len(first)
    text = " ".join(section.split())
    assert f"The third line runs {len(first)} runs" in text, (len(first), text[:400])
    assert f"{len(second)} runs, of which it trains only the {new} new ones" in text
    methods = parse_toml(PRESETS["quick"])["grid"]["method"]
    names = {"float": "float", "binaryconnect": "BinaryConnect", "binaryrelax": "BinaryRelax",
             "bcgd": "BCGD", "parq": "PARQ", "proxquant": "ProxQuant"}
    sentence = text[text.index("The third line runs"):text.index("one seed")]
    for m in methods:  # the methods it names are the preset's
        assert names[m] in sentence, (m, sentence)


def test_claim_and_figure_counts():
    from figures.registry import FIGURES
    from proofs_check.claims import all_claims

    n_claims = len(all_claims())
    assert f"({n_claims} claims, each with its source" in " ".join(README.split())
    n_theory = sum(s.kind == "theory" for s in FIGURES.values())
    words = {3: "three", 4: "four", 5: "five", 6: "six"}
    assert f"builds the {words.get(n_theory, n_theory)} theory figures" in README


def test_the_verified_closed_forms_promise_states_its_caveat():
    from proofs_check.claims import all_claims

    unchecked = [c for c in all_claims().values() if "not checked against its text" in c.source]
    head = " ".join(README[:README.index("## Tour")].split())
    assert "every closed form it prints has been verified" in head
    if unchecked:  # the promise names the exception, as `qopt verify theory` does
        assert "not checked against the text" in head
        assert ("one claim" if len(unchecked) == 1 else f"{len(unchecked)} claims") in head
        repro = " ".join(_section("Does it reproduce the papers?").split())
        assert "sufficient descent" in repro and "not checked against the text" in repro
