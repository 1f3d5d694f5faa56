"""The command line: a thin click layer over :mod:`staticbuild.api`.

This is the only module that imports click and the only place that turns a
:class:`~staticbuild.errors.StaticbuildError` into an exit status.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from staticbuild import __version__
from staticbuild.errors import StaticbuildError

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns staticbuild's errors into one clear message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StaticbuildError as exc:
            _traceback_at_3(ctx)
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"Error: {line}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # one the code did not foresee: still one line, naming the path
            if exc.errno == errno.EPIPE:
                raise  # a closed pipe (`| head`): click ends quietly
            _traceback_at_3(ctx)
            click.echo(f"Error: {_os_error_line(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:  # watch stops on its own; this is an apply or a plan
            click.echo(
                "Interrupted: no file is left half-written; run the command again to finish.",
                err=True,
            )
            ctx.exit(1)


def _traceback_at_3(ctx: click.Context) -> None:
    if (ctx.obj or {}).get("verbosity", 1) >= 3:
        import traceback  # only here: it costs ~15 ms of start-up

        traceback.print_exc()


def _os_error_line(exc: OSError) -> str:
    """``exc`` as one line; a path in staticbuild's own state folder says it may go."""
    from staticbuild.project import STATE_DIR_NAME

    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(repr(os.fsdecode(p)) for p in paths)
    line = f"{exc.strerror or exc}: {where}" if where else str(exc)
    if any(STATE_DIR_NAME in Path(os.fsdecode(p)).parts for p in paths):
        line += (
            f" (in staticbuild's state folder {STATE_DIR_NAME}/: remove what is damaged there;"
            " staticbuild then checks the destination by content)"
        )
    return line


_VERBOSITY_HELP = "0 quiet, 1 normal, 2 each file, 3 tracebacks."


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:  # given after the command: it wins over the global one
        ctx.ensure_object(dict)["verbosity"] = value


def _verbosity_option(fn: F) -> F:
    """``-v/--verbosity`` after the command too, as ``collectstatic -v 0`` takes it."""
    return click.option(
        "-v",
        "--verbosity",
        type=click.IntRange(0, 3),
        default=None,
        expose_value=False,
        callback=_set_verbosity,
        help=f"{_VERBOSITY_HELP} (default: the global option's)",
    )(fn)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "--file",
    "spec_file",
    envvar="STATICBUILD_FILE",
    type=click.Path(dir_okay=True, path_type=Path),
    help="The spec file (default: ./staticbuild.yaml).",
)
@click.option(
    "-v",
    "--verbosity",
    type=click.IntRange(0, 3),
    default=1,
    show_default=True,
    help=f"{_VERBOSITY_HELP} Also taken after the command.",
)
@click.version_option(__version__, "--version", prog_name="staticbuild")
@click.pass_context
def cli(ctx: click.Context, spec_file: Path | None, verbosity: int) -> None:
    """Collect static files as a declarative, reproducible build."""
    ctx.obj = {"spec_file": spec_file, "verbosity": verbosity}


_STDOUT_FAILED = "cannot write to standard output: {}"


def _echo(text: str, *, nl: bool = True) -> None:
    """Print to stdout. A stdout that cannot take it (a full disk) is a clear error; a
    closed pipe (``| head``) is left to click, which exits quietly."""
    try:
        click.echo(text, nl=nl)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StaticbuildError(_STDOUT_FAILED.format(exc.strerror)) from None


def _plan_options(fn: F) -> F:
    options = [
        click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON object."),
        click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Save the plan (JSON) for a later 'apply FILE' (apply saves the plan it "
            "carries out, before it starts).",
        ),
        click.option(
            "-c",
            "--clear",
            is_flag=True,
            default=None,
            help="Also remove files staticbuild did not write.",
        ),
        click.option(
            "-l", "--link", is_flag=True, default=None, help="Symlink instead of copying."
        ),
        click.option(
            "-i",
            "--ignore",
            "ignore",
            multiple=True,
            metavar="PATTERN",
            help="Ignore files, folders or paths matching this glob (repeatable).",
        ),
        click.option("--no-default-ignore", is_flag=True, help="Do not ignore CVS, .* and *~."),
        click.option("--no-post-process", is_flag=True, help="Skip post-processing."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


#: Each planning option: its field in Overrides and its flag.
_FLAGS = {
    "clear": "--clear",
    "link": "--link",
    "ignore": "--ignore",
    "default_ignore": "--no-default-ignore",
    "post_process": "--no-post-process",
}


def _overrides(opts: dict[str, Any]) -> Any:
    from staticbuild.api import Overrides

    return Overrides(
        clear=True if opts.get("clear") else None,
        link=True if opts.get("link") else None,
        # the order and repeats of patterns do not matter (collectstatic sorts a set)
        ignore=tuple(sorted(set(opts.get("ignore") or ()))),
        default_ignore=False if opts.get("no_default_ignore") else None,
        post_process=False if opts.get("no_post_process") else None,
    )


def _saved_flags(ctx: click.Context, saved: Any, given: Any, plan_file: Path) -> Any:
    """The options a saved plan was made with. It is applied as saved (Terraform's rule):
    an option may repeat one of them, or say what the spec already says (``--clear`` with
    ``clear: true``), but one that would change the plan is a usage error."""
    import msgspec

    from staticbuild.api import load_project

    extra = {
        field: value
        for field in _FLAGS
        if (value := getattr(given, field)) not in (None, ()) and value != getattr(saved, field)
    }
    if not extra:
        return saved

    def acting(overrides: Any) -> Any:  # the project as the options act, not as given
        project = load_project(ctx.obj["spec_file"], overrides)
        return msgspec.structs.replace(project, overrides=type(overrides)(), warnings=())

    if acting(saved) != acting(msgspec.structs.replace(saved, **extra)):
        flag = _FLAGS[next(iter(extra))]
        raise click.UsageError(
            f"{flag} does not match the options plan file {str(plan_file)!r} was made "
            f"with; a saved plan is applied as saved: drop {flag}, or make the plan "
            "again with it"
        )
    return saved


def _load(ctx: click.Context, overrides: Any) -> Any:
    from staticbuild.api import Builder, load_project

    project = load_project(ctx.obj["spec_file"], overrides)
    verbosity = ctx.obj["verbosity"]
    if verbosity >= 1:
        for warning in project.warnings:
            click.echo(f"Warning: {warning}", err=True)
    return Builder(project)


def _warn_walk(ctx: click.Context, builder: Any) -> None:
    if ctx.obj["verbosity"] >= 1:
        for warning in builder.warnings:
            click.echo(f"Warning: {warning}", err=True)


def _save_plan(plan: Any, out: Path | None, project: Any) -> None:
    from staticbuild.actions import encode_plan

    if out is None:
        return
    target = os.path.realpath(out)
    if target == os.path.realpath(project.spec_path):
        raise click.BadParameter(f"{str(out)!r} is the spec file", param_hint="'--out'")
    destination = project.destination
    if "://" not in destination and target.startswith(os.path.realpath(destination) + os.sep):
        raise click.BadParameter(
            f"{str(out)!r} is inside the destination, which is served publicly "
            "(a saved plan names the source folders)",
            param_hint="'--out'",
        )
    try:
        out.write_bytes(encode_plan(plan, with_inputs=True))
    except OSError as exc:
        raise StaticbuildError(f"cannot write plan file {str(out)!r}: {exc.strerror}") from None


def _print_conflicts(ctx: click.Context, builder: Any) -> None:
    """At -v 2, collectstatic's line for each shadowed file, on stdout as Django logs it."""
    from staticbuild.reports import conflict_line

    if ctx.obj["verbosity"] >= 2:
        for path in builder.conflicts():
            _echo(conflict_line(path))


def _print_plan(plan: Any, *, as_json: bool) -> None:
    from staticbuild.actions import MARKS, encode_plan, op_of

    if as_json:
        _echo(encode_plan(plan, with_inputs=False).decode(), nl=False)
        return
    for action in plan.actions:
        op = op_of(action)
        detail = getattr(action, "reason", "")
        if hasattr(action, "root"):
            origin = f"from {plan.roots[action.root]}"
            detail = f"{detail}, {origin}" if detail else origin
        _echo(f"{MARKS[op]} {op:<12} {action.path}" + (f"  ({detail})" if detail else ""))
    counts = plan.counts()
    if not plan.actions:
        files = "1 file is" if plan.unmodified == 1 else f"{plan.unmodified} files are"
        _echo(f"No changes. {files} up to date.")
        return
    parts = [f"{n} to {op}" for op, n in sorted(counts.items())]
    _echo(f"Plan: {', '.join(parts)}, {plan.unmodified} unmodified.")


@cli.command()
@_plan_options
@_verbosity_option
@click.pass_context
def plan(ctx: click.Context, /, as_json: bool, out: Path | None, **opts: Any) -> None:
    """Show what apply would do; change nothing."""
    builder = _load(ctx, _overrides(opts))
    result = builder.plan(with_inputs=out is not None)
    _warn_walk(ctx, builder)
    _save_plan(result, out, builder.project)
    if not as_json:
        _print_conflicts(ctx, builder)
    _print_plan(result, as_json=as_json)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_plan_options
@click.option(
    "--no-input",
    "--noinput",
    "no_input",
    is_flag=True,
    help="Never ask before deleting or overwriting files.",
)
@click.option("-n", "--dry-run", is_flag=True, help="Only show what would be done (as 'plan').")
@_verbosity_option
@click.pass_context
def apply(
    ctx: click.Context,
    /,
    plan_file: Path | None,
    as_json: bool,
    out: Path | None,
    no_input: bool,
    dry_run: bool,
    **opts: Any,
) -> None:
    """Make the destination match the spec.

    With PLAN_FILE (saved by 'plan --out'), carry out exactly that plan, with the options
    it was made with; refuse if anything it was made from has changed since.
    """
    from staticbuild.saved_plans import read_plan_file

    overrides = _overrides(opts)
    saved = None
    if plan_file is not None:
        saved = read_plan_file(plan_file)
        assert saved.inputs is not None  # read_plan_file refuses a plan without them
        overrides = _saved_flags(ctx, saved.inputs.flags, overrides, plan_file)
    builder = _load(ctx, overrides)
    if saved is not None:  # the same actions, planned afresh from the same inputs
        current = builder.verify_saved(saved)
    else:
        current = builder.plan(with_inputs=out is not None)
    _warn_walk(ctx, builder)
    if dry_run:
        _save_plan(current, out, builder.project)
        if not as_json:
            _print_conflicts(ctx, builder)
        _print_plan(current, as_json=as_json)
        return
    verbosity = ctx.obj["verbosity"]
    _confirm(current, no_input)
    _save_plan(current, out, builder.project)
    if verbosity >= 2 and not as_json:  # with --json, stdout is the one JSON object (the plan)
        _print_conflicts(ctx, builder)
        _print_plan(current, as_json=False)
    result = _run_with_progress(builder, current, verbosity)
    if as_json:
        from staticbuild.actions import encode_plan

        _echo(encode_plan(current, with_inputs=False).decode(), nl=False)
    elif verbosity >= 1:
        _echo(result.summary())


def _confirm(plan: Any, no_input: bool, command: str = "apply") -> bool:
    """On a terminal, ask before ``plan`` deletes or overwrites files staticbuild did not
    write (collectstatic's question); True if asked and answered yes, Cancelled on no."""
    from staticbuild.errors import Cancelled

    foreign = plan.foreign()
    if not foreign or no_input or not sys.stdin.isatty():
        return False
    click.echo(
        f"This will delete or overwrite {len(foreign)} file(s) that staticbuild did "
        "not write, e.g.:",
        err=True,
    )
    for action in foreign[:5]:
        click.echo(f"  {action.path}", err=True)
    if not click.confirm("Are you sure you want to do this?", err=True):
        raise Cancelled(f"{command} cancelled; nothing was changed")
    return True


def _run_with_progress(builder: Any, plan: Any, verbosity: int) -> Any:
    if verbosity < 1 or len(plan.actions) < 500 or not sys.stderr.isatty():
        return builder.apply(plan)
    lock = threading.Lock()
    with click.progressbar(length=len(plan.actions), label="Applying", file=sys.stderr) as bar:

        def advance(n: int) -> None:
            with lock:
                bar.update(n)

        return builder.apply(plan, progress=advance)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--first", is_flag=True, help="Only the location that wins.")
@_verbosity_option
@click.pass_context
def which(ctx: click.Context, paths: tuple[str, ...], first: bool) -> None:
    """Show where each PATH is found (Django's findstatic)."""
    from staticbuild.api import find, load_project

    project = load_project(ctx.obj["spec_file"])
    verbosity = ctx.obj["verbosity"]
    missing = False
    for path in paths:
        found = find(project, path, first=first)
        searched = (
            "\nLooking in the following locations:\n  " + "\n  ".join(found.searched)
            if verbosity >= 2
            else ""
        )
        if not found.locations:
            missing = True
            click.echo(f"No matching file found for '{path}'.{searched}", err=True)
        elif verbosity >= 1:
            _echo(f"Found '{path}' here:\n  " + "\n  ".join(found.locations) + searched)
        else:
            _echo("\n".join(found.locations))
    if missing:
        ctx.exit(1)


def _check_addr(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A malformed --addr is a usage error, found before anything is applied."""
    from staticbuild.server import parse_addr

    try:
        parse_addr(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@cli.command()
@click.option("--serve", is_flag=True, help="Serve the destination over HTTP.")
@click.option("--insecure", is_flag=True, help="Serve even without 'debug: true' in the spec.")
@click.option(
    "--addr",
    default="127.0.0.1:8000",
    show_default=True,
    metavar="HOST:PORT",
    callback=_check_addr,
    help="Where to serve (with --serve).",
)
@click.option(
    "--no-input",
    "--noinput",
    "no_input",
    is_flag=True,
    help="Never ask before the first apply deletes or overwrites files.",
)
@_verbosity_option
@click.pass_context
def watch(ctx: click.Context, serve: bool, insecure: bool, addr: str, no_input: bool) -> None:
    """Apply, then re-apply on every change (and serve, with --serve).

    On a terminal the first apply asks, as apply does, before it deletes or overwrites
    files staticbuild did not write; later re-applies warn and go ahead.
    """
    from staticbuild.api import Builder, Overrides, load_project
    from staticbuild.watch import run_watch

    if not serve and ctx.get_parameter_source("addr") is not ParameterSource.DEFAULT:
        raise click.UsageError("--addr is used only with --serve")
    spec_file = ctx.obj["spec_file"]
    # A source that a build creates later (vendor/dist) is watched for, not refused.
    overrides = Overrides(missing_sources_ok=True)
    code = run_watch(
        functools.partial(load_project, spec_file, overrides),
        functools.partial(Builder, incremental=True),
        serve=serve,
        insecure=insecure,
        addr=addr,
        verbosity=ctx.obj["verbosity"],
        echo=functools.partial(click.echo),
        err_echo=functools.partial(click.echo, err=True),
        confirm=functools.partial(_confirm, no_input=no_input, command="watch"),
    )
    ctx.exit(code)


def main() -> None:
    try:
        cli(prog_name="staticbuild")
    except OSError as error:  # --version or --help could not be printed (a full disk)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            print(f"Error: {_STDOUT_FAILED.format(error.strerror)}", file=sys.stderr)
        os._exit(1)
    except SystemExit as exc:
        if threading.active_count() > 1:  # watch/serve threads: a normal, orderly exit
            raise
        # Done: skip freeing every object of a large plan one by one (tens of ms at 10k
        # files); nothing is left to clean up, the work is on disk and the streams flushed.
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError, AttributeError):
            pass  # a closed pipe: the reader wanted no more (no stdout at all: None)
        except OSError as error:
            print(f"Error: {_STDOUT_FAILED.format(error.strerror)}", file=sys.stderr)
            code = code or 1
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        os._exit(code or 0)
