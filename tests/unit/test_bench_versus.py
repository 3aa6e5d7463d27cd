"""scripts/bench compares two builds of the gateway in one run: another checkout (`--tree`)
and this one with extra variables (`--traced-env`, tracing on), each against `gateway`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from bench import parse_args
from benchkit import versus
from benchkit.servers import start_server


def _run(rate: float, cpu: float) -> dict[str, object]:
    return {"notifications_per_s": rate, "cpu": {"server_cpu_s": cpu}}


def test_the_ratio_of_medians_and_the_median_of_each_rounds_ratio() -> None:
    runs = {
        "gateway": [_run(100.0, 2.0), _run(90.0, 2.2), _run(50.0, 4.0)],
        "tree": [_run(100.0, 2.0), _run(100.0, 2.0), _run(40.0, 4.0)],
    }
    results = {"gateway": _run(90.0, 2.2), "tree": _run(100.0, 2.0), "runs": runs}
    line = versus.compare("peruser", results, runs, "gateway", "tree")
    assert line is not None
    assert line["figure"] == "notifications/s"
    assert line["ratio"] == pytest.approx(0.9)
    assert line["round_ratios"] == pytest.approx([1.0, 0.9, 1.25])
    assert line["median_round_ratio"] == pytest.approx(1.0)
    assert line["server_cpu_ratio"] == pytest.approx(1.1)
    assert line["median_round_server_cpu_ratio"] == pytest.approx(1.0)
    assert versus.compare("peruser", {"gateway": _run(1, 1)}, runs, "gateway", "tree") is None


def test_the_flags_add_their_servers_and_refuse_what_cannot_run(tmp_path: Path) -> None:
    args = parse_args(["--servers", "gateway", "--tree", str(ROOT), "--traced-env", "A=b=c"])
    assert args.servers == ["gateway", "tree", "traced"]
    assert args.tree == ROOT and args.traced_env == {"A": "b=c"}
    for argv in (
        ["--tree", str(tmp_path)],  # no gateway there
        ["--servers", "gateway,tree"],
        ["--servers", "gateway,traced"],
        ["--traced-env", "NOVALUE"],
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)
    # a checkout with C sources must have its extension built, or it runs its Python twins
    (tmp_path / "gateway" / "csrc").mkdir(parents=True)
    (tmp_path / "gateway" / "__main__.py").write_text("")
    with pytest.raises(SystemExit):
        parse_args(["--tree", str(tmp_path)])
    (tmp_path / "gateway" / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert parse_args(["--tree", str(tmp_path)]).tree == tmp_path.resolve()


async def test_a_tree_runs_its_own_code_with_the_variables_given(tmp_path: Path) -> None:
    """`python -m gateway` from the other checkout: here a stand-in that says where it runs
    from and what it was given, then exits (which the start reports with its output)."""
    stand_in = tmp_path / "gateway"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text("")
    (stand_in / "__main__.py").write_text(
        "import os, gateway\nprint('from', gateway.__file__, 'with', os.environ.get('XTRA'))\n"
    )
    with pytest.raises(RuntimeError) as exited:
        await start_server(
            "tree", tmp_path / "tree.log", [], None, cwd=tmp_path, env={"XTRA": "yes"}
        )
    assert f"from {stand_in / '__init__.py'} with yes" in str(exited.value)
