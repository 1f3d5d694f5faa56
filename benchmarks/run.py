"""Run the benchmark suite: Django's collectstatic vs staticbuild, same corpus, alternately.

    python benchmarks/run.py            # everything (long: the peer recompresses each run)
    python benchmarks/run.py --quick    # syn-1k, one round: under two minutes
    python benchmarks/run.py --corpus real --scenario manifest --rounds 5

Prints a Markdown table and writes it to ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from corpora import SEED, WORK, Corpus, ensure_venv, install_staticbuild, load
from report import KEPT_STATE, Result, document, revision, startup
from runners import (
    MAIN,
    SCENARIOS,
    Copy,
    Peer,
    Staticbuild,
    Tool,
    compare_outputs,
    discard,
    empty_trash,
    settle,
)

RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = ("syn-1k", "syn-10k", "real", "syn-100k")
# About an hour of brotli for the peer per round (it recompresses ~0.8 GB every run).
EXPLICIT_ONLY = {("syn-100k", "manifest+gzip+br")}


def default_rounds(corpus: Corpus, scenario: str) -> int:
    """Fewer rounds where one peer run takes minutes (brotli at quality 11, every run)."""
    if scenario == "manifest+gzip+br":
        return 3 if corpus.size < 20e6 else 1
    return 3 if corpus.files <= 20_000 else 1


def bench(corpus: Corpus, scenario: str, rounds: int, python: Path) -> Result:
    """All phases of one corpus x scenario, ``rounds`` times, tools alternating."""
    workdir = WORK / "runs" / f"{corpus.name}-{scenario}"
    discard(workdir)
    ours = Staticbuild(corpus, scenario, workdir)
    tools: list[Tool] = [Peer(corpus, scenario, workdir, python), ours]
    floor = Copy(corpus, scenario, workdir)
    result = Result(corpus.name, corpus.files, corpus.size / 1e6, scenario, rounds)
    texts = corpus.text_files()
    try:
        for r in range(rounds):
            order = tools if r % 2 == 0 else tools[::-1]
            rng = random.Random(SEED + r)
            for tool in order:
                tool.reset()
                result.add(tool.name, "cold", tool.run())
            if r == 0:
                result.outputs = compare_outputs(tools[0].dest, tools[1].dest)
            floor.reset()
            result.add(floor.name, "cold", floor.run())
            # A CI job that caches .staticbuild/: an empty destination, the state kept. The
            # peer keeps nothing between runs, so its figure for this phase is its cold run.
            ours.reset_destination()
            result.add(ours.name, KEPT_STATE, ours.run())
            if r == 0:
                result.outputs_kept = compare_outputs(tools[0].dest, ours.dest)
            for tool in order:
                result.add(tool.name, "no-op", tool.run())
            corpus.touch([rng.choice(texts)], f"bench round {r}: one file")
            for tool in order:
                result.add(tool.name, "one file", tool.run())
            corpus.touch(rng.sample(texts, max(1, corpus.files // 100)), f"bench round {r}: 1%")
            for tool in order:
                result.add(tool.name, "1% files", tool.run())
            print(f"  {corpus.name}/{scenario}: round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        corpus.restore()
        for tool in [*tools, floor]:
            tool.reset()
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the selected benchmarks, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="syn-1k only, one round")
    parser.add_argument("--corpus", action="append", choices=CORPORA, help="repeatable")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="repeatable")
    parser.add_argument("--rounds", type=int, help="rounds per corpus x scenario")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    empty_trash()  # what an interrupted run left
    settle(lambda line: print(line, file=sys.stderr))
    python = ensure_venv()
    rev = revision()
    install_staticbuild(MAIN)
    corpora = args.corpus or (["syn-1k"] if args.quick else list(CORPORA))
    scenarios = args.scenario or list(SCENARIOS)
    results: list[Result] = []
    skipped: list[str] = []
    load_before = os.getloadavg()[0]
    partial = args.out.with_suffix(".md.tmp")  # survives an interrupted run
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def render(start_up: str) -> str:
        extra = [f"load average (1 min) before / after: {load_before:.1f} / "
                 f"{os.getloadavg()[0]:.1f}"]  # fmt: skip
        if skipped:
            extra.append(f"skipped (run them by naming both --corpus and --scenario): "
                         f"{', '.join(skipped)}")  # fmt: skip
        command = " ".join(sys.argv[1:] if argv is None else argv)
        elapsed = time.perf_counter() - started
        return document(results, python, rev, command, elapsed, start_up, extra)

    for name in corpora:
        print(f"corpus {name} ...", file=sys.stderr)
        corpus = load(name, python)
        for scenario in scenarios:
            if (name, scenario) in EXPLICIT_ONLY and not (args.corpus and args.scenario):
                skipped.append(f"{name}/{scenario}")
                continue
            rounds = args.rounds or (1 if args.quick else default_rounds(corpus, scenario))
            results.append(bench(corpus, scenario, rounds, python))
            partial.write_text(render("(measured at the end)\n"))
    report = render(startup())
    print(report)
    args.out.write_text(report)
    partial.unlink(missing_ok=True)
    print(f"written to {args.out}", file=sys.stderr)
    empty_trash()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
