"""The suite: section isolation, markdown tables, per-device merging, the CLI and the figure."""

from __future__ import annotations

import json

import pytest

from benchmarks import suite
from benchmarks.suite import markdown_block, merge_markdown, run_suite, table, write_results
from qopt.cli import main


@pytest.fixture
def fake_sections(monkeypatch):
    monkeypatch.setattr(suite, "SECTIONS", {
        "projection": ("tests.benchmarks.fake_section", "Fake projection", "what it is"),
        "broken": ("tests.benchmarks.broken_section", "Broken", "fails"),
        "missing": ("tests.benchmarks.no_such_module", "Missing", "absent"),
    })


def test_table_columns_union_and_escaping():
    md = table([{"a": 1.0, "b": None, "c": "x|y"}, {"a": 2.5e-5, "d": True, "b": None}])
    lines = md.strip().splitlines()
    assert lines[0] == "| a | c | d |"  # b is empty everywhere: dropped
    assert lines[2] == "| 1 | x\\|y | – |"
    assert lines[3] == "| 2.5e-05 | – | yes |"
    assert table([]) == "(no rows)\n"


def test_run_suite_isolates_failing_sections(fake_sections):
    res = run_suite(quick=True, log=lambda *_: None)
    secs = res["sections"]
    assert len(secs["projection"]["rows"]) == 4 and secs["projection"]["error"] is None
    assert secs["broken"]["error"] == "RuntimeError: kernel exploded"
    assert secs["missing"]["error"].startswith("ModuleNotFoundError")
    with pytest.raises(ValueError, match="unknown benchmark section"):
        run_suite(only=["nope"])


def test_merge_replaces_only_its_device_block():
    cpu1 = "<!-- bench:cpu -->\nCPU one\n<!-- /bench:cpu -->\n"
    cuda = "<!-- bench:cuda -->\nGPU\n<!-- /bench:cuda -->\n"
    cpu2 = "<!-- bench:cpu -->\nCPU two\n<!-- /bench:cpu -->\n"
    doc = merge_markdown(None, cpu1, "cpu")
    assert doc.startswith("# qopt benchmarks") and "CPU one" in doc
    doc = merge_markdown(doc, cuda, "cuda")
    doc = merge_markdown(doc, cpu2, "cpu")
    assert "CPU two" in doc and "GPU" in doc and "CPU one" not in doc
    assert doc.count("<!-- bench:cpu -->") == 1 and doc.count("<!-- bench:cuda -->") == 1


def test_write_results_keeps_other_device_kinds(tmp_path, fake_sections):
    res = run_suite(quick=True, only=["projection"], log=lambda *_: None)
    md, js = tmp_path / "B.md", tmp_path / "B.json"
    js.write_text(json.dumps({"cuda": {"sections": {}, "machine": {}, "device_kind": "cuda"}}))
    write_results(res, md)
    data = json.loads(js.read_text())
    assert set(data) == {"cuda", res["device_kind"]}
    text = md.read_text()
    assert "| set | n | time_ms | floor_ms | ratio | device |" in text
    assert "quick (smoke) sections" in text
    assert markdown_block(res).count("| binary | 1e+04 |") + \
        markdown_block(res).count("| binary | 10000 |") == 1


def test_cli_bench_writes_report_and_scaling_figure(tmp_path, fake_sections):
    md, figs = tmp_path / "BENCH.md", tmp_path / "figs"
    rc = main(["bench", "--quick", "--only", "projection", "--out", str(md), "--figures",
               str(figs)])
    assert rc == 0
    assert md.is_file() and (tmp_path / "BENCH.json").is_file()
    assert (figs / "bench_scaling.pdf").read_bytes().startswith(b"%PDF")
    assert main(["bench", "--quick", "--only", "broken", "--out", str(md), "--no-figures"]) == 1
    assert main(["bench", "--only", "nope", "--out", str(md)]) == 2


def test_scaling_series_reads_rows():
    from figures.plot_bench_scaling import scaling_series
    from tests.benchmarks.fake_section import run

    size, ratio, time_k, series = scaling_series(run(quick=False))
    assert (size, ratio, time_k) == ("n", "ratio", "time_ms")
    assert set(series) == {"binary", "ternary"}
    n, r, t = series["ternary"]
    assert list(n) == [1e4, 1e5, 1e6] and list(r) == [3.0] * 3
    with pytest.raises(ValueError, match="size column"):
        scaling_series([{"ratio": 1.0}])


def test_bench_optimizer_figure_plots_ratios_without_bare(tmp_path):
    from figures.plot_bench_optimizer import plot_bench_optimizer
    from tests.figures.helpers import assert_written

    rows = [{"model": "mlp", "variant": "bare", "impl": "torch", "ratio": 1.0},
            {"model": "mlp", "variant": "qopt/BCGD/binary", "impl": "qopt", "ratio": 1.5},
            {"model": "mlp", "variant": "torchao/ProxHardQuant/1bit", "impl": "torchao",
             "ratio": 3.0},
            {"model": "mlp", "variant": "broken", "impl": "qopt", "ratio": None}]
    res = plot_bench_optimizer(tmp_path, {"cpu": {"sections": {"optimizer_step": {"rows": rows}}}})
    assert_written(res)
    assert res.data == {"cpu": {"mlp": [("qopt/BCGD/binary", "qopt", 1.5, None),
                                        ("torchao/ProxHardQuant/1bit", "torchao", 3.0, None)]}}
    with pytest.raises(ValueError, match="no optimizer_step rows"):
        plot_bench_optimizer(tmp_path, {"cpu": {"sections": {}}})


def test_scaling_series_reads_the_projection_benchmark_rows():
    from figures.plot_bench_scaling import scaling_series

    rows = [{"set": "ternary", "n": 10_000, "seconds": 2e-4, "floor_seconds": 1e-4,
             "ratio": 2.0, "floor": "np.sort"},
            {"set": "ternary", "n": 100_000, "seconds": 3e-3, "floor_seconds": 2e-3,
             "ratio": 1.5, "floor": "np.sort"}]
    size, ratio, time_k, series = scaling_series(rows)
    assert (size, ratio, time_k) == ("n", "ratio", "seconds")
    n, r, t = series["ternary np.sort"]
    assert list(n) == [1e4, 1e5] and list(r) == [2.0, 1.5] and list(t) == [2e-4, 3e-3]


def test_partial_runs_merge_sections_of_the_same_device(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "SECTIONS", {
        "projection": ("tests.benchmarks.fake_section", "Fake projection", "what it is"),
        "broken": ("tests.benchmarks.broken_section", "Broken", "fails"),
    })
    md = tmp_path / "B.md"
    write_results(run_suite(quick=False, only=["projection"], log=lambda *_: None), md)
    write_results(run_suite(quick=True, only=["broken"], log=lambda *_: None), md)
    data = json.loads((tmp_path / "B.json").read_text())
    kind = next(iter(data))
    secs = data[kind]["sections"]
    assert list(secs) == ["projection", "broken"]  # registry order, old section kept
    assert len(secs["projection"]["rows"]) == 6 and not secs["projection"]["quick"]
    assert secs["broken"]["quick"] and data[kind]["quick"]
    text = md.read_text()
    assert "Fake projection" in text and "kernel exploded" in text and "QUICK" in text


@pytest.fixture
def unit_sections(monkeypatch):
    monkeypatch.setattr(suite, "SECTIONS", {
        "projection": ("tests.benchmarks.fake_section", "Fake projection", "no progress arg"),
        "steps": ("tests.benchmarks.progress_section", "With progress", "three units"),
        "cut": ("tests.benchmarks.interrupted_section", "Interrupted", "stops after two"),
    })


def test_sections_report_units_and_old_sections_still_run(unit_sections):
    lines: list[str] = []
    res = run_suite(only=["projection", "steps"], log=lines.append)
    assert len(res["sections"]["projection"]["rows"]) == 6  # run(quick) without progress
    assert [r["n"] for r in res["sections"]["steps"]["rows"]] == [10, 100, 1000]
    unit_lines = [ln for ln in lines if ln.startswith("[bench] steps ") and "/3" in ln]
    assert [ln.split()[2] for ln in unit_lines] == ["1/3", "2/3", "3/3"]
    assert "n=100" in unit_lines[1]
    assert any(ln.startswith("[bench] projection done in") and "6 rows" in ln for ln in lines)
    assert lines[0] == "[bench] projection (1/2) started"


def test_checkpoint_after_every_section(unit_sections):
    seen: list[list[str]] = []
    run_suite(only=["projection", "steps"], log=lambda *_: None,
              checkpoint=lambda r: seen.append(list(r["sections"])))
    assert seen == [["projection"], ["projection", "steps"]]


def test_interrupt_keeps_finished_sections_and_partial_rows(tmp_path, unit_sections):
    md = tmp_path / "B.md"
    # an earlier complete run of "cut" must survive the interrupted one
    complete = run_suite(only=["projection"], log=lambda *_: None)
    complete["sections"]["cut"] = dict(complete["sections"]["projection"], rows=[{"old": 1}])
    write_results(complete, md)
    with pytest.raises(KeyboardInterrupt):
        run_suite(only=["steps", "cut"], log=lambda *_: None,
                  checkpoint=lambda r: write_results(r, md))
    data = json.loads((tmp_path / "B.json").read_text())
    block = data[next(iter(data))]
    assert [r["n"] for r in block["sections"]["steps"]["rows"]] == [10, 100, 1000]
    assert block["sections"]["cut"]["rows"] == [{"old": 1}]  # last complete run kept
    cut = block["interrupted"]["cut"]
    assert cut["interrupted"] and cut["error"] == "interrupted after 2/4 units"
    assert [r["n"] for r in cut["rows"]] == [10, 100]
    text = md.read_text()
    assert "INTERRUPTED" in text and "interrupted after 2/4 units" in text
    # a later complete run of the section clears its interrupted entry
    monkey = dict(suite.SECTIONS)
    monkey["cut"] = monkey["steps"]
    suite.SECTIONS.update(monkey)
    write_results(run_suite(only=["cut"], log=lambda *_: None), md)
    block = json.loads((tmp_path / "B.json").read_text())[next(iter(data))]
    assert "interrupted" not in block and len(block["sections"]["cut"]["rows"]) == 3


@pytest.mark.parametrize("sigterm", [False, True])
def test_cli_interrupted_bench_exits_130_and_keeps_work(tmp_path, unit_sections, monkeypatch,
                                                        capsys, sigterm):
    if sigterm:  # a batch scheduler's SIGTERM ends the run like Ctrl-C
        monkeypatch.setenv("QOPT_TEST_SIGTERM", "1")
    md = tmp_path / "B.md"
    rc = main(["bench", "--only", "steps,cut", "--out", str(md), "--no-figures"])
    assert rc == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "[bench] steps done in" in err
    block = next(iter(json.loads((tmp_path / "B.json").read_text()).values()))
    assert len(block["sections"]["steps"]["rows"]) == 3
    assert len(block["interrupted"]["cut"]["rows"]) == 2


def test_cli_quick_never_overwrites_measured_results(tmp_path, fake_sections, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    # a measured (non-quick) run where the committed report lives
    assert main(["bench", "--only", "projection", "--no-figures"]) == 0
    before = (tmp_path / "BENCHMARKS.json").read_bytes()
    # a smoke run goes to bench_quick/ by default ...
    assert main(["bench", "--quick", "--only", "projection", "--no-figures"]) == 0
    assert (tmp_path / "bench_quick" / "BENCHMARKS.md").is_file()
    assert (tmp_path / "BENCHMARKS.json").read_bytes() == before
    # ... and refuses to replace measured sections when pointed at them
    capsys.readouterr()
    assert main(["bench", "--quick", "--only", "projection", "--out", "BENCHMARKS.md",
                 "--no-figures"]) == 2
    assert "does not replace them" in capsys.readouterr().err
    assert (tmp_path / "BENCHMARKS.json").read_bytes() == before
    # another section (not measured yet) may be smoke-tested into the same file
    assert main(["bench", "--quick", "--only", "broken", "--out", "BENCHMARKS.md",
                 "--no-figures"]) == 1
    data = json.loads((tmp_path / "BENCHMARKS.json").read_text())
    secs = next(iter(data.values()))["sections"]
    assert not secs["projection"]["quick"] and secs["broken"]["quick"]


def test_write_results_refuses_quick_over_measured_and_bad_json(tmp_path, fake_sections):
    md = tmp_path / "B.md"
    write_results(run_suite(only=["projection"], log=lambda *_: None), md)
    with pytest.raises(suite.MeasuredResultsError, match="measured"):
        write_results(run_suite(quick=True, only=["projection"], log=lambda *_: None), md)
    (tmp_path / "C.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_results(run_suite(only=["projection"], log=lambda *_: None), tmp_path / "C.md")
    assert (tmp_path / "C.json").read_text() == "{not json"  # left untouched


def test_section_progress_validates():
    from benchmarks.progress import NULL_PROGRESS, SectionProgress

    calls = []
    p = SectionProgress(on_total=calls.append, on_unit=lambda *a: calls.append(a))
    p.total(2)
    p.unit("a", [{"x": 1}])
    assert calls == [2, (1, 2, "a", [{"x": 1}])] and p.rows == [{"x": 1}]
    with pytest.raises(ValueError, match="total"):
        p.total(-1)
    with pytest.raises(TypeError, match="dicts"):
        p.unit("b", [1])
    NULL_PROGRESS.total(3)
    NULL_PROGRESS.unit("x", [{"a": 1}])
    assert NULL_PROGRESS.rows == []
