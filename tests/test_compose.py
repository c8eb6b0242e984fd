"""Static checks of ``docker-compose.yml`` and ``Dockerfile`` (there is no Docker engine to run them here).

1. The compose file validates against the Compose Specification's JSON schema (extracted from Debian's
   docker-compose package by ``./run test`` into ``.cache/compose-spec/``), and broken copies do not.
2. The file has the structure of the official Airflow 3 compose file (airflow-notes.md §6) wired to this
   project: the image built from the repo's Dockerfile, CeleryExecutor on ``postgres``/``redis``, the
   ``pdfco_default`` connection pointing at the ``pdfco-local`` service, mounted DAGs/plugins/data, and an
   image that carries the provider (so the triggerer can import ``PdfCoJobTrigger``) and Tesseract.

Variables are substituted the way Compose does (``$$`` escapes, ``${VAR:-default}`` and friends), with an
empty environment (the committed defaults) and with the values of ``.env.example`` (what ``cp .env.example
.env`` gives).
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
import shlex
import subprocess
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from jsonschema.validators import validator_for
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = ROOT / ".cache" / "compose-spec" / "compose_spec.json"

LONG_RUNNING_AIRFLOW = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-worker": ["celery", "worker"],
    "airflow-triggerer": ["triggerer"],
}
AIRFLOW_SERVICES = [*LONG_RUNNING_AIRFLOW, "airflow-init"]
OFFICIAL_SERVICES = ["postgres", "redis", "airflow-init", *LONG_RUNNING_AIRFLOW, "pdfco-local"]
TRIGGER_CLASSPATH = "pdfco_provider.triggers.PdfCoJobTrigger"
AIRFLOW_UIDS = {"airflow", "50000"}


# --------------------------------------------------------------------------------------------------------
# Compose variable interpolation
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarRef:
    name: str
    op: str | None  # None ($VAR / ${VAR}), ":-", "-", ":?", "?", ":+", "+"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _braced_end(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose ``{`` is at ``start`` (nested ``${...}`` allowed)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unclosed ${{ in {text!r}")


def interpolate(text: str, env: Mapping[str, str], refs: list[VarRef] | None = None) -> str:
    """Substitute variables as Compose does; every reference met is appended to ``refs``."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1]
        if nxt == "$":
            out.append("$")
            index += 2
            continue
        if nxt == "{":
            end = _braced_end(text, index + 1)
            body = text[index + 2 : end]
            match = _NAME.match(body)
            assert match, f"invalid variable reference ${{{body}}} in {text!r}"
            name, rest = match.group(), body[match.end() :]
            op_match = re.match(r":?[-?+]", rest)
            op = op_match.group() if op_match else None
            assert op is not None or not rest, f"invalid variable reference ${{{body}}} in {text!r}"
            arg = interpolate(rest[len(op) :], env, refs) if op else ""
            if refs is not None:
                refs.append(VarRef(name, op))
            value = env.get(name)
            if op == ":-":
                out.append(value if value else arg)
            elif op == "-":
                out.append(arg if value is None else value)
            elif op in (":?", "?"):
                missing = value is None or (op == ":?" and not value)
                assert not missing, f"required variable {name} is not set: {arg}"
                out.append(value or "")
            elif op == ":+":
                out.append(arg if value else "")
            elif op == "+":
                out.append(arg if value is not None else "")
            else:
                out.append(value or "")
            index = end + 1
            continue
        match = _NAME.match(text, index + 1)
        if match:
            if refs is not None:
                refs.append(VarRef(match.group(), None))
            out.append(env.get(match.group(), ""))
            index = match.end()
            continue
        out.append(char)
        index += 1
    return "".join(out)


def interpolate_tree(node: Any, env: Mapping[str, str], refs: list[VarRef] | None = None) -> Any:
    """Compose interpolates every string value (not mapping keys) of the file."""
    if isinstance(node, str):
        return interpolate(node, env, refs)
    if isinstance(node, list):
        return [interpolate_tree(item, env, refs) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, refs) for key, value in node.items()}
    return node


def test_interpolation_follows_compose_rules() -> None:
    refs: list[VarRef] = []
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("$${HOSTNAME} $$X", env, refs) == "${HOSTNAME} $X"
    assert refs == []
    assert interpolate("${SET:-d}|${EMPTY:-d}|${UNSET:-d}|${EMPTY-d}|${UNSET-d}", env) == "x|d|d||d"
    assert interpolate("${UNSET:-http://h:1/p}", env) == "http://h:1/p"
    assert interpolate("${UNSET:-${SET}}-${SET:+alt}-${EMPTY:+alt}-$SET", env) == "x-alt--x"
    assert interpolate('{"a": "${UNSET:-b}"}', env, refs) == '{"a": "b"}'
    assert VarRef("UNSET", ":-") in refs


# --------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------


@cache
def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def parse_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """(assignments, every name assigned, including commented-out ``# NAME=value`` documentation lines)."""
    values: dict[str, str] = {}
    documented: set[str] = set()
    for line in path.read_text().splitlines():
        stripped = line.strip()
        commented = stripped.startswith("#")
        match = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", stripped.lstrip("#").strip())
        if not match:
            continue
        documented.add(match.group(1))
        if not commented:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[match.group(1)] = value
    return values, documented


@cache
def env_example() -> tuple[dict[str, str], set[str]]:
    assert ENV_EXAMPLE.is_file(), ".env.example is missing"
    return parse_env_file(ENV_EXAMPLE)


ENVIRONMENTS = {"defaults": "empty environment (compose defaults)", "env-example": "values of .env.example"}


@cache
def compose(which: str = "defaults") -> dict[str, Any]:
    env = {} if which == "defaults" else env_example()[0]
    result = interpolate_tree(copy.deepcopy(raw_compose()), env)
    assert isinstance(result, dict)
    return result


def services(which: str = "defaults") -> dict[str, dict[str, Any]]:
    found = compose(which).get("services")
    assert isinstance(found, dict), "the compose file has no services mapping"
    return found


def service(name: str, which: str = "defaults") -> dict[str, Any]:
    svc = services(which).get(name)
    assert isinstance(svc, dict), f"service {name!r} is missing from docker-compose.yml"
    return svc


def environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


@dataclass(frozen=True)
class Mount:
    type: str  # "bind" or "volume"
    source: str
    target: str


def mounts(svc: Mapping[str, Any]) -> list[Mount]:
    found: list[Mount] = []
    for item in svc.get("volumes") or []:
        if isinstance(item, dict):
            found.append(Mount(item.get("type", "volume"), str(item.get("source", "")), str(item["target"])))
            continue
        parts = item.split(":")
        if len(parts) == 1:
            found.append(Mount("volume", "", parts[0]))
            continue
        source, target = parts[0], parts[1]
        is_path = source.startswith((".", "/", "~"))
        found.append(Mount("bind" if is_path else "volume", source, target))
    return found


def healthcheck_text(svc: Mapping[str, Any]) -> str:
    check = svc.get("healthcheck") or {}
    return " ".join(argv(check.get("test")))


def under(path: str, root: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(root))


# --------------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    user: str  # the USER in effect when the instruction runs
    stage_args: tuple[tuple[str, str], ...]  # ARGs declared in the current stage (name, default)


@cache
def dockerfile() -> tuple[dict[str, str], list[Instruction]]:
    """(global ARG defaults declared before the first FROM, the instructions with the USER in effect)."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#"):
            continue  # comments, also inside continuations, are dropped by the parser
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        pending += line
        if pending.strip():
            logical.append(pending.strip())
        pending = ""
    global_args: dict[str, str] = {}
    instructions: list[Instruction] = []
    user = "root"
    stage_args: list[tuple[str, str]] = []
    seen_from = False
    for text in logical:
        keyword, _, args = text.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            seen_from, user, stage_args = True, "root", []
        elif keyword == "USER":
            user = args.split(":")[0]
        elif keyword == "ARG":
            name, _, default = args.partition("=")
            if seen_from:
                stage_args.append((name, default or global_args.get(name, "")))
            else:
                global_args[name] = default
        instructions.append(Instruction(keyword, args, user, tuple(stage_args)))
    return global_args, instructions


def docker_substitute(text: str, variables: Mapping[str, str]) -> str:
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)",
        lambda m: variables.get(m.group(1) or m.group(2), ""),
        text,
    )


def runs(user: str | None = None) -> list[Instruction]:
    return [i for i in dockerfile()[1] if i.keyword == "RUN" and (user is None or i.user == user)]


def copies() -> list[tuple[list[str], str]]:
    """COPY instructions as (sources, destination), flags such as --chown dropped."""
    found: list[tuple[list[str], str]] = []
    for instruction in dockerfile()[1]:
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        words = [word for word in shlex.split(instruction.args) if not word.startswith("--")]
        assert len(words) >= 2, f"cannot parse {instruction.keyword} {instruction.args}"
        found.append((words[:-1], words[-1]))
    return found


def copied_to(source: str) -> str | None:
    """Where a repo path lands in the image (a destination ending in / is a directory)."""
    for sources, destination in copies():
        for candidate in sources:
            if candidate.rstrip("/") == source.rstrip("/"):
                if destination.endswith("/") or len(sources) > 1:
                    return str(PurePosixPath(destination) / PurePosixPath(candidate).name)
                return destination
    return None


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def airflow_requirement() -> Requirement:
    for dependency in pyproject()["project"]["dependencies"]:
        requirement = Requirement(dependency)
        if requirement.name == "apache-airflow":
            return requirement
    raise AssertionError("pyproject.toml does not depend on apache-airflow")


# --------------------------------------------------------------------------------------------------------
# 1. Schema
# --------------------------------------------------------------------------------------------------------


@cache
def compose_validator() -> jsonschema.protocols.Validator:
    if not SCHEMA_FILE.is_file():
        pytest.skip(
            f"{SCHEMA_FILE.relative_to(ROOT)} is absent: `./run test` extracts it from Debian's docker-compose "
            "package (apt-get download docker-compose), which needs apt-get and network access"
        )
    schema = json.loads(SCHEMA_FILE.read_text())
    # The file declares "$schema": "http://json-schema.org/draft/2019-09/schema#", which is not the canonical
    # meta-schema id, so validator_for() would warn and fall back to the newest draft; say which draft it is.
    cls = validator_for(schema, default=jsonschema.Draft201909Validator)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(document: Any) -> list[str]:
    errors = sorted(compose_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]


def test_compose_file_matches_the_compose_specification() -> None:
    errors = schema_errors(raw_compose())
    assert not errors, "docker-compose.yml does not validate:\n" + "\n".join(errors)


def test_compose_file_matches_the_specification_after_interpolation() -> None:
    for which in ENVIRONMENTS:
        errors = schema_errors(compose(which))
        assert not errors, f"with the {ENVIRONMENTS[which]}:\n" + "\n".join(errors)


def _ports_as_string(document: dict[str, Any]) -> None:
    document["services"]["airflow-apiserver"]["ports"] = "8080"


def _unknown_top_level_key(document: dict[str, Any]) -> None:
    document["service"] = {"typo": {"image": "x"}}


def _unknown_service_key(document: dict[str, Any]) -> None:
    document["services"]["pdfco-local"]["helthcheck"] = {"test": ["CMD", "true"]}


def _bad_depends_on_condition(document: dict[str, Any]) -> None:
    document["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "healthy"


@pytest.mark.parametrize(
    "breaks",
    [_ports_as_string, _unknown_top_level_key, _unknown_service_key, _bad_depends_on_condition],
)
def test_schema_rejects_a_broken_copy(breaks: Any) -> None:
    document = copy.deepcopy(raw_compose())
    breaks(document)
    assert schema_errors(document), f"the schema accepted a compose file broken by {breaks.__name__}"


# --------------------------------------------------------------------------------------------------------
# 2. Services, health checks and start order
# --------------------------------------------------------------------------------------------------------


def test_official_services_exist() -> None:
    missing = [name for name in OFFICIAL_SERVICES if name not in services()]
    assert not missing, f"services missing from docker-compose.yml: {missing}"


def test_long_running_services_have_healthchecks() -> None:
    for name, svc in services().items():
        if name == "airflow-init" or svc.get("profiles"):
            continue  # one-shot (airflow-init) or on-demand (airflow-cli) containers
        check = svc.get("healthcheck")
        assert isinstance(check, dict), f"service {name!r} runs continuously but has no healthcheck"
        assert not check.get("disable"), f"service {name!r} disables its healthcheck"
        test = argv(check.get("test"))
        assert test and test[0] != "NONE", f"service {name!r} has an empty healthcheck test: {test}"


def depends_on(svc: Mapping[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_wait_for_postgres_redis_and_init(name: str) -> None:
    deps = depends_on(service(name))
    for backend in ("postgres", "redis"):
        assert deps.get(backend) == "service_healthy", (
            f"{name} must depend on {backend} with condition service_healthy, has {deps.get(backend)!r}"
        )
    if name != "airflow-init":
        assert deps.get("airflow-init") == "service_completed_successfully", (
            f"{name} must depend on airflow-init with condition service_completed_successfully, "
            f"has {deps.get('airflow-init')!r}"
        )


def test_dependency_conditions_can_be_met() -> None:
    for name, svc in services().items():
        for dependency, condition in depends_on(svc).items():
            assert dependency in services(), f"{name} depends on an undefined service {dependency!r}"
            target = service(dependency)
            if condition == "service_healthy":
                assert target.get("healthcheck"), (
                    f"{name} waits for {dependency} healthy, which has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert target.get("restart", "no") == "no", (
                    f"{name} waits for {dependency} to complete, but {dependency} restarts "
                    f"({target.get('restart')!r})"
                )


# --------------------------------------------------------------------------------------------------------
# Image, commands and Airflow configuration
# --------------------------------------------------------------------------------------------------------


def build_context(svc: Mapping[str, Any]) -> tuple[str | None, str]:
    build = svc.get("build")
    if isinstance(build, str):
        return build, "Dockerfile"
    if isinstance(build, dict):
        return build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return None, ""


def airflow_like_services() -> list[str]:
    return [name for name in services() if name.startswith("airflow-")]


def test_airflow_services_use_the_image_built_from_the_dockerfile() -> None:
    images = {}
    for name in [*airflow_like_services(), "pdfco-local"]:
        svc = service(name)
        context, file = build_context(svc)
        assert context is not None, f"{name} does not build the image (`build: .`)"
        built = (ROOT / context / file).resolve()
        assert built == DOCKERFILE, f"{name} builds {built}, not the repo's Dockerfile"
        assert svc.get("image"), f"{name} has no image name, so each service would build its own image"
        images[name] = svc["image"]
    assert len(set(images.values())) == 1, f"services use different image names: {images}"


@pytest.mark.parametrize(("name", "command"), LONG_RUNNING_AIRFLOW.items())
def test_airflow_service_commands(name: str, command: list[str]) -> None:
    svc = service(name)
    assert argv(svc.get("command")) == command, f"{name} runs {svc.get('command')!r}, expected {command}"
    assert "entrypoint" not in svc, f"{name} overrides the image's /entrypoint with {svc['entrypoint']!r}"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
@pytest.mark.parametrize("which", ENVIRONMENTS)
def test_airflow_configuration(name: str, which: str) -> None:
    env = environment(service(name, which))
    assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", f"{name}: executor is not CeleryExecutor"

    sql = urlsplit(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    assert sql.scheme.startswith("postgresql") and sql.hostname == "postgres", (
        f"{name}: SQL_ALCHEMY_CONN must be postgresql://…@postgres/…, is {sql.geturl()!r}"
    )
    postgres = environment(service("postgres", which))
    assert (sql.username, sql.password, sql.path.lstrip("/")) == (
        postgres.get("POSTGRES_USER"),
        postgres.get("POSTGRES_PASSWORD"),
        postgres.get("POSTGRES_DB"),
    ), f"{name}: SQL_ALCHEMY_CONN credentials/database do not match the postgres service's"

    broker = urlsplit(env.get("AIRFLOW__CELERY__BROKER_URL", ""))
    assert broker.scheme == "redis" and broker.hostname == "redis" and (broker.port or 6379) == 6379, (
        f"{name}: BROKER_URL must be redis://…@redis:6379/…, is {broker.geturl()!r}"
    )

    api = urlsplit(env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", ""))
    apiserver = service("airflow-apiserver", which)
    container_ports = {str(p).split(":")[-1].split("/")[0] for p in apiserver.get("ports", [])}
    assert api.hostname == "airflow-apiserver", f"{name}: EXECUTION_API_SERVER_URL host is {api.hostname!r}"
    assert str(api.port or 80) in container_ports | {"8080"}, f"{name}: Execution API port {api.port}"
    assert api.path.rstrip("/") == "/execution", f"{name}: EXECUTION_API_SERVER_URL path is {api.path!r}"


def pdfco_connection(which: str, name: str = "airflow-worker") -> dict[str, Any]:
    raw = environment(service(name, which)).get("AIRFLOW_CONN_PDFCO_DEFAULT")
    assert raw, f"{name} has no AIRFLOW_CONN_PDFCO_DEFAULT"
    try:
        conn = json.loads(raw)
    except json.JSONDecodeError as error:
        raise AssertionError(f"AIRFLOW_CONN_PDFCO_DEFAULT is not JSON ({error}): {raw}") from error
    assert isinstance(conn, dict), f"AIRFLOW_CONN_PDFCO_DEFAULT is not a JSON object: {raw}"
    return conn


def pdfco_local_option(option: str, which: str = "defaults") -> str | None:
    """A ``pdfco-local serve`` option from the command line, else from its PDFCO_LOCAL_<OPTION> variable."""
    svc = service("pdfco-local", which)
    words = argv(svc.get("command"))
    flag = f"--{option}"
    for index, word in enumerate(words):
        if word == flag and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return environment(svc).get(f"PDFCO_LOCAL_{option.upper().replace('-', '_')}")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_pdfco_connection_points_at_pdfco_local(name: str) -> None:
    conn = pdfco_connection("defaults", name)
    assert conn.get("conn_type") == "pdfco", f"conn_type is {conn.get('conn_type')!r}, expected 'pdfco'"
    assert conn.get("host") == "http://pdfco-local:8090", f"host is {conn.get('host')!r}"
    assert pdfco_local_option("port") == "8090", (
        f"pdfco-local listens on {pdfco_local_option('port')!r}, the connection uses 8090"
    )
    assert "8090" in {str(port) for port in service("pdfco-local").get("expose", [])} | {"8090"}


def test_pdfco_connection_with_env_example_values() -> None:
    """``cp .env.example .env`` must give a JSON connection whose key the local server accepts."""
    conn = pdfco_connection("env-example")
    assert conn.get("conn_type") == "pdfco"
    host = urlsplit(str(conn.get("host")))
    if host.hostname == "pdfco-local":
        assert str(host.port) == pdfco_local_option("port", "env-example")
        keys = [k.split(":")[0] for k in (pdfco_local_option("api-keys", "env-example") or "").split(",")]
        assert conn.get("password") in keys, (
            f".env.example's PDFCO_API_KEY ({conn.get('password')!r}) is not a pdfco-local key {keys}"
        )


# --------------------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-cli"])
def test_airflow_services_mount_dags_and_plugins(name: str) -> None:
    if name not in services():
        pytest.skip(f"no {name} service")
    binds = {(m.source, m.target) for m in mounts(service(name)) if m.type == "bind"}
    for folder in ("dags", "plugins"):
        assert (f"./{folder}", f"/opt/airflow/{folder}") in binds, (
            f"{name} does not mount ./{folder} at /opt/airflow/{folder}; bind mounts: {sorted(binds)}"
        )


def test_mounted_repo_folders_hold_the_dag_and_plugin() -> None:
    assert (ROOT / "dags" / "pdf_to_text.py").is_file(), "dags/pdf_to_text.py is missing"
    assert (ROOT / "plugins" / "pdfco_plugin.py").is_file(), "plugins/pdfco_plugin.py is missing"
    ignore = ROOT / "plugins" / ".airflowignore"
    assert ignore.is_file(), "plugins/.airflowignore is missing"
    patterns = [line.strip() for line in ignore.read_text().splitlines()]
    assert "pdfco_provider/" in patterns, (
        f"plugins/.airflowignore does not list pdfco_provider/ (the plugin manager would import its modules "
        f"as top-level plugins): {patterns}"
    )


@pytest.mark.parametrize("variable", ["PDF_TO_TEXT_SOURCE", "PDF_TO_TEXT_DESTINATION"])
@pytest.mark.parametrize("which", ENVIRONMENTS)
def test_dag_data_folders_are_on_a_mounted_volume(variable: str, which: str) -> None:
    for name in AIRFLOW_SERVICES:
        svc = service(name, which)
        path = environment(svc).get(variable)
        assert path, f"{name} does not set {variable} (the pdf_to_text DAG's default)"
        targets = [m.target for m in mounts(svc) if m.target != "/opt/airflow"]
        assert any(under(path, target) for target in targets), (
            f"{name}: {variable}={path} is not under a mounted volume ({targets}); its files would be lost "
            "with the container and not shared between workers"
        )


# --------------------------------------------------------------------------------------------------------
# The image: the distribution, the trigger, Tesseract
# --------------------------------------------------------------------------------------------------------


def test_dockerfile_base_image_is_airflow_3_3_on_python_3_11() -> None:
    global_args, instructions = dockerfile()
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    assert froms, "the Dockerfile has no FROM"
    base = docker_substitute(froms[-1].split()[0], global_args)
    assert re.fullmatch(r"apache/airflow:3\.3\.\d+-python3\.11", base), (
        f"the base image is {base!r}, expected apache/airflow:3.3.x-python3.11"
    )


def test_dockerfile_airflow_version_matches_pyproject() -> None:
    version = dockerfile()[0].get("AIRFLOW_VERSION")
    assert version, "the Dockerfile declares no `ARG AIRFLOW_VERSION=<version>` before FROM"
    requirement = airflow_requirement()
    assert requirement.specifier.contains(Version(version)), (
        f"ARG AIRFLOW_VERSION={version} is outside pyproject's {requirement}"
    )


def test_dockerfile_installs_the_distribution() -> None:
    project_dir = copied_to("pyproject.toml")
    assert project_dir, "the Dockerfile does not COPY pyproject.toml"
    project_dir = str(PurePosixPath(project_dir).parent)
    needed = [
        pyproject()["project"].get("readme"),
        *pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
    ]
    for path in filter(None, needed):
        assert (ROOT / path).exists(), f"{path} (needed to build the distribution) is not in the repo"
        expected = str(PurePosixPath(project_dir) / path)
        assert copied_to(path) == expected, (
            f"the Dockerfile must COPY {path} to {expected} (next to pyproject.toml), copies it to "
            f"{copied_to(path)!r}"
        )
    for path in ("plugins/pdfco_provider", "server/pdfco_local"):
        assert copied_to(path), f"the Dockerfile does not COPY {path}"

    pip_runs = [i for i in runs() if re.search(r"\bpip\b.*\binstall\b", i.args)]
    assert pip_runs, "the Dockerfile has no `pip install`"
    install = pip_runs[-1]
    assert install.user == "airflow", (
        f"pip install runs as {install.user!r}; the official image wants airflow"
    )
    stage_args = dict(install.stage_args)
    assert "AIRFLOW_VERSION" in stage_args, (
        "ARG AIRFLOW_VERSION is not redeclared after FROM, so ${AIRFLOW_VERSION} is empty in RUN"
    )
    words = [word.strip("'\"") for word in shlex.split(docker_substitute(install.args, stage_args))]
    version = dockerfile()[0]["AIRFLOW_VERSION"]
    assert f"apache-airflow=={version}" in words, (
        f"pip install must pin apache-airflow=={version} (the image's version): {install.args}"
    )
    targets = [w for w in words if w.split("[")[0].rstrip("/") == project_dir]
    assert targets, f"pip install does not install {project_dir}: {install.args}"
    extras = re.findall(r"\[([^\]]*)\]", targets[0])
    assert extras and "server" in extras[0].split(","), f"{targets[0]} is installed without the server extra"


def test_trigger_classpath_resolves_from_the_copied_package() -> None:
    module, _, class_name = TRIGGER_CLASSPATH.rpartition(".")
    package, _, submodule = module.partition(".")
    packages = pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    sources = [p for p in packages if PurePosixPath(p).name == package]
    assert sources, f"no wheel package provides {package!r}: {packages}"
    source = sources[0]
    assert copied_to(source), (
        f"the Dockerfile does not COPY {source}, so the triggerer cannot import {module}"
    )
    init = ROOT / source / "__init__.py"
    path = ROOT / source / f"{submodule}.py"
    assert init.is_file(), f"{init.relative_to(ROOT)} is missing: {package} is not a package"
    assert path.is_file(), f"{TRIGGER_CLASSPATH}: {path.relative_to(ROOT)} does not exist"
    classes = {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}
    assert class_name in classes, f"{path.relative_to(ROOT)} does not define {class_name}: {sorted(classes)}"
    check = " ".join(i.args for i in runs())
    assert re.search(rf"import\s+[^\"']*\b{re.escape(module)}\b", check), (
        f"the Dockerfile does not check at build time that {module} imports"
    )


def test_dockerfile_installs_tesseract() -> None:
    installs = [i for i in runs("root") if "apt-get install" in i.args or "apt install" in i.args]
    assert installs, "the Dockerfile installs no Debian packages as root"
    words = {w for i in installs for w in i.args.split()}
    assert "tesseract-ocr" in words, "the Dockerfile does not install tesseract-ocr"


def test_nothing_is_installed_at_container_start() -> None:
    text = COMPOSE_FILE.read_text()
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in text, (
        "docker-compose.yml uses _PIP_ADDITIONAL_REQUIREMENTS: packages belong in the Dockerfile"
    )
    for name, svc in services().items():
        started = " ".join([*argv(svc.get("entrypoint")), *argv(svc.get("command"))])
        assert not re.search(r"\b(pip|uv|apt-get|apt)\b.*\binstall\b", started), (
            f"{name} installs packages when it starts: {started}"
        )


# --------------------------------------------------------------------------------------------------------
# pdfco-local
# --------------------------------------------------------------------------------------------------------


def test_pdfco_local_service() -> None:
    svc = service("pdfco-local")
    assert argv(svc.get("entrypoint")) == ["pdfco-local"], f"entrypoint is {svc.get('entrypoint')!r}"
    assert "pdfco-local" in pyproject()["project"]["scripts"], "pyproject defines no pdfco-local script"
    command = argv(svc.get("command"))
    assert command[:1] == ["serve"], f"pdfco-local runs {command}, expected `serve …`"
    assert pdfco_local_option("host") == "0.0.0.0", (
        f"pdfco-local binds {pdfco_local_option('host')!r}; other containers need 0.0.0.0"
    )
    port = urlsplit(pdfco_connection("defaults")["host"]).port
    assert pdfco_local_option("port") == str(port), "pdfco-local's port is not the connection's"

    data_dir = pdfco_local_option("data-dir")
    assert data_dir, "pdfco-local has no --data-dir"
    named = [m for m in mounts(svc) if m.type == "volume" and m.target == data_dir]
    assert named, f"pdfco-local's data dir {data_dir} is not on a named volume: {mounts(svc)}"
    assert named[0].source in (compose().get("volumes") or {}), (
        f"volume {named[0].source!r} is not declared under the top-level volumes:"
    )

    keys = [k.split(":")[0] for k in (pdfco_local_option("api-keys") or "").split(",") if k]
    assert "PDFCO_LOCAL_API_KEYS" in (raw_compose()["services"]["pdfco-local"].get("environment") or {}), (
        "pdfco-local takes its API key from PDFCO_LOCAL_API_KEYS"
    )
    password = pdfco_connection("defaults").get("password")
    assert password in keys, f"the connection's default key {password!r} is not a pdfco-local key {keys}"

    check = healthcheck_text(svc)
    assert re.search(rf"(localhost|127\.0\.0\.1):{port}/healthz\b", check), (
        f"pdfco-local's healthcheck does not hit /healthz on port {port}: {check}"
    )


def test_pdfco_local_data_dir_is_writable_by_the_image_user() -> None:
    """A new named volume takes the owner of the image's directory at its mount point; when the image has no
    such directory, Docker creates it owned by root, and pdfco-local (running as ``airflow``) cannot write
    its database there, never gets healthy, and every Airflow service waiting for it never starts."""
    svc = service("pdfco-local")
    user = str(svc.get("user", "")).split(":")[0]
    if user in ("0", "root"):
        return
    data_dir = pdfco_local_option("data-dir") or ""
    prepared = [
        i
        for i in runs("root")
        if re.search(rf"\bmkdir\b[^;&|]*\s{re.escape(data_dir)}/?(\s|$)", i.args)
        and re.search(
            rf"\bchown\b[^;&|]*\b({'|'.join(AIRFLOW_UIDS)})\b[^;&|]*\s{re.escape(data_dir)}/?(\s|$)", i.args
        )
    ]
    assert prepared, (
        f"the Dockerfile does not create {data_dir} owned by airflow, so the pdfco-local-data volume is "
        f"root-owned and pdfco-local (user airflow) cannot write to it; add, as root: "
        f"RUN mkdir -p {data_dir} && chown airflow:root {data_dir}"
    )


# --------------------------------------------------------------------------------------------------------
# Secrets and variables
# --------------------------------------------------------------------------------------------------------


def test_env_file_is_git_ignored() -> None:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", ".env"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f".env is not git-ignored (git check-ignore: {result.returncode})"


def test_env_example_documents_the_pdfco_settings() -> None:
    _, documented = env_example()
    for name in ("PDFCO_BASE_URL", "PDFCO_API_KEY"):
        assert name in documented, f".env.example does not mention {name}"


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def real_looking_secrets(text: str) -> list[str]:
    """Long random-looking tokens: API keys, Fernet keys, JWT secrets, hex digests."""
    found = []
    for token in re.findall(r"[A-Za-z0-9+/=_\-]{20,}", text):
        has_digit = any(c.isdigit() for c in token)
        has_alpha = any(c.isalpha() for c in token)
        words = re.split(r"[+/=_\-]", token)
        if all(word.isalpha() or word.isdigit() or re.fullmatch(r"[a-z]+\d", word) for word in words if word):
            continue  # made of plain words, like db+postgresql+psycopg2
        if has_digit and has_alpha and entropy(token) >= 3.5:
            found.append(token)
    return found


def test_secret_detector() -> None:
    assert real_looking_secrets("FERNET_KEY: 'ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg='")
    assert real_looking_secrets('"password": "jane@example.com_0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b"')
    assert not real_looking_secrets("postgresql+psycopg2://airflow:airflow@postgres/airflow change-me")
    assert not real_looking_secrets("AIRFLOW__CORE__EXECUTION_API_SERVER_URL local-dev-key")


def test_no_real_secret_is_committed() -> None:
    for path in (COMPOSE_FILE, ENV_EXAMPLE):
        found = real_looking_secrets(path.read_text())
        assert not found, f"{path.name} contains real-looking secrets: {found}"
    secret_names = re.compile(r"KEY|SECRET|PASSWORD|TOKEN", re.IGNORECASE)
    for name, svc in services().items():
        for variable, value in environment(svc).items():
            if secret_names.search(variable) and value:
                assert len(value) < 20 or not real_looking_secrets(value), (
                    f"{name}: {variable} defaults to a real-looking secret"
                )


def test_every_variable_has_a_default_or_is_documented() -> None:
    refs: list[VarRef] = []
    interpolate_tree(raw_compose(), {}, refs)
    assert refs, "no variable found in docker-compose.yml (the interpolation scan is broken)"
    _, documented = env_example()
    undocumented = sorted(
        {ref.name for ref in refs if ref.op not in (":-", "-") and ref.name not in documented}
    )
    assert not undocumented, (
        f"docker-compose.yml uses variables with no default that .env.example does not document: {undocumented}"
    )


def test_env_example_variables_are_used() -> None:
    refs: list[VarRef] = []
    interpolate_tree(raw_compose(), {}, refs)
    used = {ref.name for ref in refs}
    values, _ = env_example()
    unused = sorted(set(values) - used)
    assert not unused, f".env.example sets variables that docker-compose.yml never reads: {unused}"
