"""The systemd units in daemon/ call the real CLI: every option they use must exist.

Checked against the real click command, and against the contract's ``watch`` options
(CONTRACT.md), which the command must keep offering.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

DAEMON = Path(__file__).resolve().parent.parent / "daemon"
UNITS = sorted(DAEMON.glob("*.service"))

# option -> takes a value; from the contract: global options, then `watch` options.
CONTRACT_GLOBAL = {"-f": True, "--file": True, "-v": True, "--verbosity": True}
CONTRACT_WATCH = {"--serve": False, "--insecure": False, "--addr": True}


def cli_options() -> tuple[dict[str, bool], dict[str, bool]]:
    """Global and ``watch`` options of the real click command."""
    import click

    from staticbuild.cli import cli

    def options(params: list[click.Parameter]) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for param in params:
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    found[name] = not param.is_flag and not param.count
        return found

    assert isinstance(cli, click.Group)
    return options(cli.params), options(cli.commands["watch"].params)


def exec_start(unit: Path) -> list[str]:
    """The ExecStart command lines of a unit, continuation lines joined."""
    text = re.sub(r"\\\n", " ", unit.read_text())
    return [
        line.split("=", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("ExecStart=") and line.split("=", 1)[1].strip()
    ]


def split_command(line: str) -> tuple[list[str], list[str]]:
    """``staticbuild GLOBAL... watch WATCH...`` into its two option lists."""
    words = shlex.split(line.lstrip("-@:+!"))
    assert Path(words[0]).name == "staticbuild", words[0]
    assert "watch" in words, line
    split = words.index("watch")
    return words[1:split], words[split + 1 :]


def check_options(words: list[str], known: dict[str, bool]) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}
    index = 0
    while index < len(words):
        word = words[index]
        assert word.startswith("-"), f"unexpected argument {word!r}"
        name, eq, inline = word.partition("=")
        assert name in known, f"{name} is not an option here; known: {sorted(known)}"
        if known[name] and not eq:
            index += 1
            assert index < len(words), f"{name} needs a value"
            seen[name] = words[index]
        else:
            seen[name] = inline if eq else None
        index += 1
    return seen


def test_there_is_a_user_and_a_system_unit() -> None:
    names = {unit.name for unit in UNITS}
    assert {"staticbuild-watch.service", "staticbuild-watch@.service"} <= names
    assert (DAEMON / "README.md").is_file()


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_exec_start_uses_real_cli_options(unit: Path) -> None:
    global_options, watch_options = cli_options()
    lines = exec_start(unit)
    assert len(lines) == 1
    before, after = split_command(lines[0])
    globals_seen = check_options(before, global_options)
    watch_seen = check_options(after, watch_options)
    assert {"-f", "--file"} & set(globals_seen), "the spec must be given with -f/--file"
    assert "--serve" in watch_seen
    # A service has no terminal; it says so rather than rely on watch noticing.
    assert {"--no-input", "--noinput"} & set(watch_seen)
    verbosity = globals_seen.get("-v") or globals_seen.get("--verbosity")
    assert verbosity in (None, "0", "1", "2", "3")
    addr = watch_seen.get("--addr")
    assert addr is not None and re.fullmatch(r"\$\{\w+\}|[\w.\[\]:]+:\d+", addr)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_stops_with_sigterm_and_installs(unit: Path) -> None:
    text = unit.read_text()
    assert "KillSignal=SIGTERM" in text
    assert re.search(r"^Restart=on-failure$", text, re.M)
    assert re.search(r"^WantedBy=\S+\.target$", text, re.M)
    for variable in set(re.findall(r"\$\{(\w+)\}", text)):
        assert f"{variable}=" in text, f"${{{variable}}} is documented nowhere in {unit.name}"


def test_option_check_rejects_a_made_up_option() -> None:
    _, watch_options = cli_options()
    with pytest.raises(AssertionError, match="--port"):
        check_options(["--serve", "--port", "8000"], watch_options)


def test_the_cli_offers_the_contract_options() -> None:
    global_options, watch_options = cli_options()
    assert CONTRACT_GLOBAL.items() <= global_options.items()
    assert CONTRACT_WATCH.items() <= watch_options.items()


def _section(text: str, name: str) -> dict[str, str]:
    """The ``key=value`` lines of one ``[name]`` section of a unit file."""
    found: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.strip() == f"[{name}]"
        elif inside and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_a_unit_that_keeps_failing_ends_failed_instead_of_looping(unit: Path) -> None:
    """systemd's default limit (5 starts in 10 s) never trips with RestartSec=3: a spec
    error would restart forever. The unit's own limit must be reachable."""
    text = unit.read_text()
    unit_section, service = _section(text, "Unit"), _section(text, "Service")
    interval = int(unit_section["StartLimitIntervalSec"])
    burst = int(unit_section["StartLimitBurst"])
    assert burst * float(service["RestartSec"]) < interval
    assert "2" in service["RestartPreventExitStatus"].split()  # a usage error never mends
    assert "Documentation" not in unit_section  # pip installs no documentation files
