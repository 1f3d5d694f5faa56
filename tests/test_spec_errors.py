"""Every bad spec is refused with one clear line per problem, exit 1, and nothing touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from staticbuild.spec import schema_text
from tests.conftest import RunCli, tree, write

ROOT = Path(__file__).resolve().parent.parent

GOOD = "version: 1\ndestination: out\nsources: [assets]\n"

# (spec text, what the message must contain, the line it must name or None)
BAD_SPECS = {
    "syntax error": ("version: 1\ndestination: [out\n", "YAML syntax error", 3),
    "encoding twice": (
        GOOD + "storage: {compress: [gzip, br, gzip]}\n",
        "compress lists 'gzip' more than once [SB-E030]",
        4,
    ),
    "bucket URL with one slash": (
        "version: 1\ndestination: s3:/bucket/x\n",
        "did you mean 's3://bucket/x'?",
        2,
    ),
    "nested too deeply": (GOOD + "a: " + "[" * 5000 + "\n", "nested too deeply", None),
    "unknown key": (GOOD + "colour: blue\n", "unknown key 'colour'", 4),
    "unknown nested key": (
        GOOD + "storage:\n  kind: manifest\n  hashing: md5\n",
        "storage.hashing: unknown key",
        6,
    ),
    "wrong type": (GOOD + "link: maybe\n", "link:", 4),
    "missing destination": ("version: 1\nsources: [assets]\n", "destination: required key", 1),
    "bad version": ("version: 2\ndestination: out\n", "unsupported version 2", 1),
    "boolean version": ("version: true\ndestination: out\n", "unsupported version true;", 1),
    "empty version": ("version:\ndestination: out\n", "unsupported version nothing (null);", 1),
    "float version": ("version: 1.0\ndestination: out\n", "unsupported version 1.0", 1),
    "destination in a source": (
        "version: 1\ndestination: assets/out\nsources: [assets]\n",
        "overlaps the searched folder",
        2,
    ),
    "prefix with slash": (
        "version: 1\ndestination: out\nsources:\n  - {path: assets, prefix: vendor/}\n",
        "prefix 'vendor/'",
        4,
    ),
    "missing package": (
        GOOD + "apps:\n  - package: no_such_pkg_xyz\n",
        "package 'no_such_pkg_xyz' is not installed",
        5,
    ),
    "missing source folder": (
        "version: 1\ndestination: out\nsources: [nope]\n",
        "source folder",
        3,
    ),
    "source is a file": (
        "version: 1\ndestination: out\nsources: [assets/a.css]\n",
        "a.css' is a file, not a folder [SB-E010]",
        3,
    ),
    "app path is a file": (
        GOOD + "apps: [{path: assets/a.css}]\n",
        "a.css' is a file, not a folder [SB-E017]",
        4,
    ),
    "app package is a plain module": (
        GOOD + "apps:\n  - package: json.decoder\n",
        "'json.decoder' is a module (",
        5,
    ),
    "empty file": ("", "the spec is empty", 1),
    "unknown storage": (GOOD + "storage: {kind: s3fs}\n", "storage.kind", 4),
    "unknown compression": (GOOD + "storage: {compress: [gzip, zstd]}\n", "storage.compress[1]", 4),
    "bad url": (GOOD + "url: static\n", "url 'static' must end in '/'", 4),
    "url with a query": (
        GOOD + "url: 'http://cdn/x/?v=1/'\n",
        "has a query or fragment, which is dropped when a file name is joined to it",
        4,
    ),
    "url with dot segments": (GOOD + "url: /a/../\n", "has '.' or '..' segments", 4),
    "url with a control character": (GOOD + 'url: "/a\\tb/"\n', "control character", 4),
    "url of another scheme": (GOOD + "url: ftp://cdn/x/\n", "an http(s) URL with a host", 4),
    "non-mapping root": ("- version\n- 1\n", "must be a mapping", 1),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "version: 1\ndestination: out\n",
        "alias bomb",
        1,
    ),
    "app with both path and package": (
        GOOD + "apps:\n  - {path: x, package: y}\n",
        "exactly one of",
        5,
    ),
    "not utf-8": (b"version: 1\ndestination: \xff\n", "not UTF-8", None),
    "NUL byte in the destination": (
        'version: 1\ndestination: "d\\0x"\nsources: [assets]\n',
        "destination: 'd\\x00x' contains a NUL byte",
        2,
    ),
    "NUL byte in a source": (
        'version: 1\ndestination: out\nsources: ["as\\0sets"]\n',
        "sources[0]: 'as\\x00sets' contains a NUL byte",
        3,
    ),
    "NUL byte in a prefix": (
        'version: 1\ndestination: out\nsources: [{path: assets, prefix: "v\\0"}]\n',
        "sources[0].prefix: 'v\\x00' contains a NUL byte",
        3,
    ),
    "upper-case S3 scheme": (
        "version: 1\ndestination: S3://bucket/x\nsources: [assets]\n",
        "did you mean 's3://bucket/x'?",
        2,
    ),
    "query in a bucket URL": (
        "version: 1\ndestination: s3://bucket/x?region=eu-west-1\nsources: [assets]\n",
        "has a query or fragment; connection settings go in the s3 block",
        2,
    ),
    "package name too long for a folder": (
        GOOD + "apps:\n  - package: " + "a" * 300 + "\n",
        "[SB-E013] (hint: pip install it",
        5,
    ),
    "other URL scheme": (
        "version: 1\ndestination: gs://bucket/x\nsources: [assets]\n",
        "is a gs:// URL; only s3:// URLs are supported",
        2,
    ),
}


# (spec text after "version: 1\n", the message line after the file name)
IN_USER_TERMS = [
    (
        "destination: out\napps: [assets]\n",
        "3:8: apps[0]: expected {path: ...} or {package: ...}, got 'assets' [SB-E002]",
    ),
    (
        "destination: out\nsources: [123]\n",
        "3:11: sources[0]: expected a folder or {path: ..., prefix: ...}, got 123 [SB-E002]",
    ),
    (
        "destination: out\nsources: assets\n",
        "3:1: sources: expected a list, got 'assets' [SB-E002]",
    ),
    ("destination: out\n1: x\n", "3:1: 1: unknown key '1' [SB-E002]"),
    (
        "destination: out\nstorage: []\n",
        "3:1: storage: expected a mapping of keys, got a list [SB-E002]",
    ),
    (
        "destination: out\nlink: ~\n",
        "3:1: link: expected true or false, got nothing (null) [SB-E002]",
    ),
    ("destination: out\nsources: ['']\n", "3:11: sources[0]: must not be empty [SB-E002]"),
    (
        "destination: out\nstorage: {kind: Manifest}\n",
        "3:11: storage.kind: must be 'filesystem' or 'manifest', got 'Manifest' [SB-E002]",
    ),
]


@pytest.mark.parametrize(("text", "expected"), IN_USER_TERMS)
def test_type_errors_are_told_in_the_spec_s_terms(
    run_cli: RunCli, tmp_path: Path, text: str, expected: str
) -> None:
    spec = write(tmp_path / "staticbuild.yaml", "version: 1\n" + text)
    result = run_cli("-f", spec, "plan")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"Error: {spec}:{expected}")


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_refused(run_cli: RunCli, tmp_path: Path, case: str, command: str) -> None:
    text, expected, line = BAD_SPECS[case]
    write(tmp_path / "assets/a.css", "a")
    write(tmp_path / "out/existing.txt", "untouched")
    spec = write(tmp_path / "staticbuild.yaml", text)
    before = tree(tmp_path)
    result = run_cli("-f", spec, command)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert expected in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error: {spec}")
    if line is not None:
        assert f"{spec}:{line}:" in result.stderr
    assert tree(tmp_path) == before
    assert not (tmp_path / ".staticbuild").exists()


def refused_apply(run_cli: RunCli, spec: Path, root: Path) -> str:
    """``apply`` of ``spec`` exits 1 and changes nothing below ``root``; its stderr."""
    before = tree(root)
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1, result.output
    assert tree(root) == before
    return result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "../precious.txt",
        "../staticbuild.yaml",
        "/abs/x.json",
        "a/../../x.json",
        "./m.json",
        "a//m.json",
        "a\\m.json",
        "m\0.json",
        ".staticbuild/m.json",
    ],
)
def test_manifest_name_must_stay_inside_the_destination(
    run_cli: RunCli, tmp_path: Path, name: str
) -> None:
    write(tmp_path / "proj/assets/a.css", "a")
    write(tmp_path / "proj/precious.txt", "precious")
    spec = write(
        tmp_path / "proj/staticbuild.yaml",
        GOOD + f"storage:\n  kind: manifest\n  manifest_name: {json.dumps(name)}\n",
    )
    stderr = refused_apply(run_cli, spec, tmp_path)
    assert f"{spec}:6:3: storage.manifest_name: " in stderr
    assert "[SB-E024]" in stderr and len(stderr.splitlines()) == 1


def test_manifest_name_may_be_in_a_sub_folder(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "assets/a.css", "a")
    spec = write(
        tmp_path / "staticbuild.yaml",
        GOOD + "storage: {kind: manifest, manifest_name: meta/manifest.json}\n",
    )
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert "a.css" in (tmp_path / "out/meta/manifest.json").read_text()


# (symlink made in the project -> its target, destination, extra spec keys)
SYMLINKED_OVERLAPS = {
    "destination is a symlink to the source": ("public", "assets", "public", "link: true\n"),
    "destination is a symlink into a source folder": (
        "public",
        "assets/sub",
        "public",
        "clear: true\n",
    ),
    "destination below a symlinked parent": ("alink", "assets", "alink/build", ""),
    "destination reached through a symlink into an app's static folder": (
        "appstatic",
        "app/static",
        "appstatic/build",
        "apps: [{path: app}]\n",
    ),
}


@pytest.mark.parametrize("case", sorted(SYMLINKED_OVERLAPS))
def test_destination_overlapping_a_source_through_symlinks_is_refused(
    run_cli: RunCli, tmp_path: Path, case: str
) -> None:
    link, target, destination, extra = SYMLINKED_OVERLAPS[case]
    write(tmp_path / "assets/a.css", "a")
    write(tmp_path / "assets/sub/b.css", "b")
    write(tmp_path / "app/static/c.css", "c")
    (tmp_path / link).symlink_to(target)
    spec = write(
        tmp_path / "staticbuild.yaml",
        f"version: 1\ndestination: {destination}\nsources: [assets]\n{extra}",
    )
    stderr = refused_apply(run_cli, spec, tmp_path)
    assert f"{spec}:2:1: destination: " in stderr and "[SB-E012]" in stderr
    assert "through symlinks" in stderr


def test_a_symlink_made_after_an_apply_is_noticed(run_cli: RunCli, tmp_path: Path) -> None:
    """The validated spec is cached; a destination replaced by a symlink into a source
    since then must still be refused, not collected into."""
    write(tmp_path / "assets/a.css", "a")
    spec = write(tmp_path / "staticbuild.yaml", GOOD + "clear: true\n")
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    (tmp_path / "out/a.css").unlink()
    (tmp_path / "out").rmdir()
    (tmp_path / "out").symlink_to("assets")
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1 and "[SB-E012]" in result.stderr
    assert (tmp_path / "assets/a.css").read_text() == "a"


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        (".", "contains the spec file"),
        ("..", "contains the spec file"),
        ("proj_link", "contains the spec file"),
        (".staticbuild", "is, or is inside, staticbuild's state folder"),
        (".staticbuild/out", "is, or is inside, staticbuild's state folder"),
    ],
)
def test_destination_may_not_hold_the_spec_or_the_state(
    run_cli: RunCli, tmp_path: Path, destination: str, expected: str
) -> None:
    """With clear, such a destination deleted the spec and the state (or, inside the
    state folder, its own record at every apply)."""
    proj = tmp_path / "proj"
    write(tmp_path / "assets/a.css", "a")
    write(proj / "notes.txt", "keep")
    write(proj / ".staticbuild/keep.txt", "keep")
    (proj / "proj_link").symlink_to(proj)
    spec = write(
        proj / "staticbuild.yaml",
        f"version: 1\ndestination: {destination}\nsources: [../assets]\nclear: true\n",
    )
    stderr = refused_apply(run_cli, spec, tmp_path)
    assert f"{spec}:2:1: destination: " in stderr and "[SB-E025]" in stderr
    assert expected in stderr


def test_a_destination_that_contains_the_state_folder_is_refused(
    run_cli: RunCli, tmp_path: Path
) -> None:
    write(tmp_path / "proj/assets/a.css", "a")
    spec = write(
        tmp_path / "proj/conf/staticbuild.yaml",
        "version: 1\ndestination: ../site\nsources: [../assets]\n",
    )
    (tmp_path / "proj/site").mkdir()
    (tmp_path / "proj/conf/.staticbuild").symlink_to(tmp_path / "proj/site/state")
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1 and "contains staticbuild's state folder" in result.stderr


def test_overlap_names_the_app_after_a_failed_one(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "app2/static/a.css", "a")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: app2/static/build\napps: [{path: nope}, {path: app2}]\n",
    )
    lines = run_cli("-f", spec, "plan").stderr.splitlines()
    assert any("[SB-E017]" in line and "apps[0].path" in line for line in lines)
    overlap = next(line for line in lines if "[SB-E012]" in line)
    assert "(apps[1])" in overlap


@pytest.mark.parametrize(("url", "prefix"), [("x/", "/x/"), ("/x/y z/", "/x/y%20z/")])
def test_urls_django_accepts_are_served(
    run_cli: RunCli, tmp_path: Path, url: str, prefix: str
) -> None:
    """A relative STATIC_URL gets the script prefix, as in Django; a space is a space."""
    from staticbuild.api import load_project
    from staticbuild.server import start_server
    from tests.server_fixtures import fetch

    write(tmp_path / "assets/a.css", "a")
    spec = write(tmp_path / "staticbuild.yaml", GOOD + f"url: {json.dumps(url)}\n")
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    project = load_project(spec)
    server = start_server(
        project.destination_path,
        project.url,
        project.link_roots,
        addr="127.0.0.1:0",
        insecure=True,
    )
    try:
        assert fetch(server.host, server.port, prefix + "a.css").body == b"a"
    finally:
        server.close()


def test_all_problems_reported_at_once(run_cli: RunCli, tmp_path: Path) -> None:
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: out\ncolour: x\nlink: 3\nurl: nope\n",
    )
    lines = run_cli("-f", spec, "plan").stderr.splitlines()
    assert len(lines) == 3
    assert [line.split(":")[2] for line in lines] == ["3", "4", "5"]
    assert all("[SB-E" in line for line in lines)


def test_schema_and_disk_problems_are_reported_in_one_round(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """An unknown key and an invalid item do not hide the missing folders and package of
    the items that are valid on their own: every problem at once, in the file's order."""
    write(tmp_path / "assets/a.css", "a")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\n"  # 1
        "destination: out\n"  # 2
        "colour: blue\n"  # 3
        "sources:\n"  # 4
        "  - nope\n"  # 5
        "  - assets\n"  # 6
        "  - 123\n"  # 7
        "  - {path: missing2, prefix: vendor}\n"  # 8
        "apps:\n"  # 9
        "  - package: no_such_pkg_xyz\n"  # 10
        "  - {path: x, package: y}\n"  # 11
        "  - path: noapp\n"  # 12
        "link: 3\n",  # 13
    )
    lines = refused_apply(run_cli, spec, tmp_path).splitlines()
    assert [line.removeprefix(f"Error: {spec}:").split(": ")[:2] for line in lines] == [
        ["3:1", "colour"],
        ["5:5", "sources[0]"],
        ["7:5", "sources[2]"],
        ["8:5", "sources[3]"],
        ["10:5", "apps[0].package"],
        ["11:5", "apps[1]"],
        ["12:5", "apps[2].path"],
        ["13:1", "link"],
    ]
    codes = [line.split("[")[-1].split("]")[0] for line in lines]
    assert codes == [
        "SB-E002",
        "SB-E010",
        "SB-E002",
        "SB-E010",
        "SB-E013",
        "SB-E016",
        "SB-E017",
        "SB-E002",
    ]
    assert "package 'no_such_pkg_xyz' is not installed" in lines[4]


def test_the_destination_of_a_spec_with_invalid_parts_is_checked_too(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The overlap names the app as the file numbers it, past the invalid one; an invalid
    destination is not checked against the disk, but the sources still are."""
    write(tmp_path / "app2/static/a.css", "a")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 2\ndestination: app2/static/b\napps: [{path: x, package: y}, {path: app2}]\n",
    )
    lines = run_cli("-f", spec, "plan").stderr.splitlines()
    assert len(lines) == 3
    assert "1:1: version: unsupported version 2" in lines[0]
    assert "2:1: destination: " in lines[1] and "(apps[1]) [SB-E012]" in lines[1]
    assert "3:8: apps[0]: an app needs exactly one" in lines[2]
    spec.write_text('version: 1\ndestination: "d\\0x"\nsources: [nope]\n')
    lines = run_cli("-f", spec, "plan").stderr.splitlines()
    assert len(lines) == 2
    assert "2:1: destination: " in lines[0] and "[SB-E027]" in lines[0]
    assert "3:11: sources[0]: source folder" in lines[1] and "[SB-E010]" in lines[1]


def test_a_spec_with_invalid_parts_under_watch_warns_of_missing_sources(tmp_path: Path) -> None:
    """watch takes a missing source as a warning (SB-W010), in a spec with invalid parts too:
    only the schema problem is an error."""
    from staticbuild.api import Overrides, load_project
    from staticbuild.errors import SpecError

    spec = write(
        tmp_path / "staticbuild.yaml", "version: 1\ndestination: out\nsources: [nope]\nx: 1\n"
    )
    with pytest.raises(SpecError) as caught:
        load_project(spec, Overrides(missing_sources_ok=True))
    [problem] = caught.value.problems
    assert "unknown key 'x'" in problem


def test_a_missing_package_s_hint_names_a_folder_beside_the_spec(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """``mysite.blog`` is no package, but ``./blog/static/`` is there: say ``path: blog``.
    A module beside the spec is a module (SB-E028), found without running it."""
    write(tmp_path / "blog/static/blog/post.css", "post")
    marker = tmp_path / "imported"
    write(tmp_path / "helpers.py", f"open({str(marker)!r}, 'w').close()\n")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: out\napps:\n"
        "  - package: mysite.blog\n  - package: helpers\n  - package: nothing_here_xyz\n",
    )
    lines = run_cli("-f", spec, "plan").stderr.splitlines()
    assert len(lines) == 3
    assert "4:5: apps[0].package: package 'mysite.blog' is not installed" in lines[0]
    assert "[SB-E013] (hint: give the app as 'path: blog'" in lines[0]
    assert f"'helpers' is a module ({tmp_path / 'helpers.py'})" in lines[1]
    assert "[SB-E028]" in lines[1]
    assert "(hint: pip install it, or check the name" in lines[2]
    assert not marker.exists()


def test_missing_and_unreadable_spec(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("-f", tmp_path / "nope.yaml", "plan")
    assert result.exit_code == 1 and "spec file not found" in result.stderr
    result = run_cli("-f", tmp_path, "plan")
    assert result.exit_code == 1 and "is a folder" in result.stderr


def test_traceback_only_at_verbosity_3(run_cli: RunCli, tmp_path: Path) -> None:
    spec = write(tmp_path / "staticbuild.yaml", "version: 3\ndestination: out\n")
    assert "Traceback" in run_cli("-f", spec, "-v", "3", "plan").stderr


def test_usage_error_is_exit_2(run_cli: RunCli) -> None:
    assert run_cli("plan", "--bogus").exit_code == 2


def test_relative_paths_are_relative_to_the_spec(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "proj/assets/a.css", "a")
    spec = write(tmp_path / "proj/staticbuild.yaml", GOOD)
    monkeypatch.chdir(tmp_path)
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert (tmp_path / "proj/out/a.css").read_text() == "a"


def test_spec_from_environment(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "assets/a.css", "a")
    spec = write(tmp_path / "elsewhere.yaml", GOOD)
    monkeypatch.setenv("STATICBUILD_FILE", str(spec))
    assert "a.css" in run_cli("plan").stdout


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "schema/staticbuild.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run 'make schema'"
    assert json.loads(committed)["additionalProperties"] is False


def test_demo_spec_is_valid_against_the_schema() -> None:
    import jsonschema  # from the test extras via moto
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((ROOT / "staticbuild.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(schema_text()))


@pytest.mark.parametrize("version", [1, True, "1", 2, None])
def test_the_models_and_the_schema_agree_on_version(version: object) -> None:
    """(1.0 is an integer to JSON Schema; the models, strict, refuse it as they refuse a
    float for every integer key — see test_bad_spec_is_refused.)"""
    import jsonschema
    from pydantic import ValidationError

    from staticbuild.spec import Spec

    document = {"version": version, "destination": "out"}
    try:
        Spec.model_validate(document)
        models = True
    except ValidationError:
        models = False
    schema = jsonschema.Draft202012Validator(json.loads(schema_text())).is_valid(document)
    assert models == schema == (version == 1 and type(version) is int)


def test_the_spec_is_validated_in_a_child_and_its_errors_reported_here(tmp_path: Path) -> None:
    """pydantic and ruamel.yaml (13 MB) load only in a forked child, so a large apply does
    not carry them; a bad spec still fails here, with the same message."""
    import subprocess
    import sys
    import textwrap

    write(tmp_path / "assets/a.css", "a")
    (tmp_path / ".staticbuild").mkdir()  # the cache is kept only where an apply made one
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(GOOD + "ignore: ['*.scss']\n")
    bad = tmp_path / "bad" / "staticbuild.yaml"
    write(bad, GOOD + "colour: blue\n")
    write(tmp_path / "bad/assets/a.css", "a")  # the unknown key is the one problem
    probe = textwrap.dedent(
        f"""
        import sys
        from staticbuild.api import load_project
        from staticbuild.errors import SpecError
        from staticbuild.parallel import can_fork
        project = load_project({str(spec)!r})
        print(can_fork(), "pydantic" in sys.modules, "ruamel.yaml" in sys.modules)
        print(project.ignore_patterns, [r.label for r in project.roots])
        try:
            load_project({str(bad)!r})
        except SpecError as exc:
            print(str(exc).splitlines()[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    forked, pydantic, ruamel = out[0].split()
    if forked == "True":
        assert (pydantic, ruamel) == ("False", "False")
    assert out[1] == "('*.scss', '*~', '.*', 'CVS') ['assets']"
    assert "unknown key 'colour'" in out[2] and "staticbuild.yaml" in out[2]
    assert (tmp_path / ".staticbuild" / "project.json").exists()


@pytest.mark.parametrize("packages", [False, True])
def test_the_validated_spec_is_reused_across_interpreters_search_paths(
    tmp_path: Path, packages: bool
) -> None:
    """``staticbuild`` and ``python -m staticbuild`` search different paths. The cache of
    the validated spec tells them apart only when the spec names packages (found on that
    path), and keeps an entry for each, so alternating between them validates nothing."""
    import os
    import subprocess
    import sys

    write(tmp_path / "assets/a.css", "a")
    (tmp_path / ".staticbuild").mkdir()  # the cache is kept only where an apply made one
    write(tmp_path / "pkgs/mypkg/__init__.py", "")
    write(tmp_path / "pkgs/mypkg/static/mypkg/b.css", "b")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(GOOD + ("apps: [{package: mypkg}]\n" if packages else ""))
    code = f"from staticbuild.api import load_project; load_project({str(spec)!r})\n"
    script = write(tmp_path / "scripts/load.py", code)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'pkgs'}{os.pathsep}{ROOT}"}
    cache = tmp_path / ".staticbuild" / "project.json"

    def load(how: str) -> tuple[int, int]:
        """Load the spec from a fresh interpreter; the cache file's identity (new if written)."""
        argv = [sys.executable, "-c", code] if how == "-c" else [sys.executable, str(script)]
        subprocess.run(argv, env=env, check=True, cwd=tmp_path)
        st = cache.stat()
        return st.st_ino, st.st_mtime_ns

    first = load("-c")
    second = load("script")
    assert (second != first) == packages  # a second entry only when packages were resolved
    assert load("-c") == load("script") == second  # both cached: nothing validated again
