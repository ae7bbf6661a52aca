"""The docker/ folder, checked without a Docker engine (there is none where this suite runs, so
the image is never built here):

- docker/compose.yaml is valid by the Compose Specification's JSON schema (as vendored in the
  check-jsonschema wheel, scripts/install-deps.sh);
- every command in compose.yaml and the Dockerfile uses only flags the binary has (its --help),
  and the ports, volumes and files they name agree with each other, with the broker config
  files (which start a real broker) and with the topology (which passes `strait topology check`
  and has the links of topologies/active-passive.yaml);
- the runtime stage installs the Debian package of every library `ldd` shows the binary needs
  (the STRAIT_BIN one, a debug build in the suite: its Swift runtime libraries are those
  --static-swift-stdlib links in), and the build stage the -dev packages Package.swift names.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from importlib.metadata import distribution
from pathlib import Path

import jsonschema
import pytest
import yaml

from support.broker import REPO_ROOT, Broker, free_port, strait_binary

DOCKER = REPO_ROOT / "docker"


# --- reading the files -----------------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of docker/Dockerfile, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each from its FROM on."""
    result: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def apt_installed(stage: list[tuple[str, str]]) -> list[str]:
    """The packages every `apt-get install` of a stage's RUN lines names."""
    packages = []
    for keyword, arguments in stage:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", arguments):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages += [word for word in words[2:] if not word.startswith("-")]
    return packages


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) CMD, ENTRYPOINT or HEALTHCHECK CMD."""
    return json.loads(arguments)


def instruction(stage, keyword: str) -> str:
    [arguments] = [a for k, a in stage if k == keyword]
    return arguments


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (a named volume, or a docker/ file for a ./ bind mount)."""
    result = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        result[target] = str((DOCKER / source).resolve()) if source.startswith(".") else source
    return result


def published(service: dict) -> dict[int, tuple[str, int]]:
    """Container port -> (host address, host port) of a service's `ports`."""
    result = {}
    for entry in service.get("ports", []):
        host, host_port, container_port = entry.split(":")
        result[int(container_port)] = (host, int(host_port))
    return result


def strait_services() -> dict[str, dict]:
    return {name: service for name, service in compose()["services"].items() if service.get("image") == "strait:local"}


def help_options(subcommand: list[str]) -> set[str]:
    """The --options `strait SUBCOMMAND --help` lists."""
    result = subprocess.run([str(strait_binary()), *subcommand, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result
    return set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", result.stdout))


def strait_commands() -> list[tuple[str, list[str]]]:
    """Every strait command line the Dockerfile and compose.yaml run, without the `strait`, named by where it is."""
    runtime = stages()[-1]
    assert exec_form(instruction(runtime, "ENTRYPOINT")) == ["strait"]
    commands = [("Dockerfile CMD", exec_form(instruction(runtime, "CMD")))]
    healthcheck = instruction(runtime, "HEALTHCHECK")
    commands.append(("Dockerfile HEALTHCHECK", exec_form(healthcheck[healthcheck.index("CMD ") + 4:])[1:]))
    for name, service in strait_services().items():
        commands.append((f"{name} command", service["command"]))
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[0] == "CMD-SHELL", test
            words = shlex.split(test[1])
            words = words[:min([words.index(w) for w in (">", "||", "&&") if w in words] or [len(words)])]
            assert words[0] == "strait", test
            commands.append((f"{name} healthcheck", words[1:]))
    return commands


def compose_schema() -> dict:
    path = Path(distribution("check-jsonschema").locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json"))
    return json.loads(path.read_text())


# --- compose.yaml ----------------------------------------------------------------------------

def test_compose_file_is_valid_by_the_compose_specification():
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []

    # The schema does refuse what Compose would: an unknown service key, a bad restart policy.
    broken = compose()
    broken["services"]["replicator"]["comand"] = ["replicator"]
    broken["services"]["broker-east"]["restart"] = 3
    errors = [(list(e.absolute_path), e.message) for e in validator.iter_errors(broken)]
    assert (["services", "broker-east", "restart"], "3 is not of type 'string'") in errors, errors
    assert any(path == ["services", "replicator"] and "'comand' was unexpected" in message for path, message in errors), errors


def test_every_strait_command_uses_only_flags_the_binary_has():
    subcommands = {"broker", "replicator", "up", "status", ("groups", "list"), ("groups", "describe"), ("topology", "check")}
    checked = []
    for where, command in strait_commands():
        words = tuple(command[:2]) if tuple(command[:2]) in subcommands else (command[0],)
        assert words in subcommands or words[0] in subcommands, f"{where}: unknown subcommand in {command}"
        options = help_options(list(words))
        used = [word for word in command[len(words):] if word.startswith("--")]
        assert set(used) <= options, f"{where}: {sorted(set(used) - options)} not in `strait {' '.join(words)} --help`"
        checked.append(where)
    assert set(checked) >= {"Dockerfile CMD", "Dockerfile HEALTHCHECK", "broker-east command", "broker-west command",
                            "replicator command", "replicator healthcheck"}


def test_dockerfile_defaults_agree_with_themselves():
    runtime = stages()[-1]
    command = exec_form(instruction(runtime, "CMD"))
    assert command[0] == "broker"
    assert exec_form(instruction(runtime, "VOLUME")) == [option(command, "--data-dir")]
    exposed = {int(port) for port in instruction(runtime, "EXPOSE").split()}
    status_port = port_of(yaml.safe_load((DOCKER / "topology.yaml").read_text())["status"])
    assert exposed == {port_of(option(command, "--listen")), status_port}
    healthcheck = instruction(runtime, "HEALTHCHECK")
    assert port_of(option(exec_form(healthcheck[healthcheck.index("CMD ") + 4:]), "--bootstrap-server")) == \
        port_of(option(command, "--listen"))
    assert instruction(runtime, "USER") not in ("root", "0"), "runs as a non-root user"


def test_brokers_listen_where_the_topology_and_the_published_ports_say():
    spec = compose()
    topology = yaml.safe_load((DOCKER / "topology.yaml").read_text())
    bootstraps = {site["kafka"]["bootstrap"][0] for site in topology["sites"].values()}
    brokers = {name: s for name, s in strait_services().items() if s["command"][0] == "broker"}
    assert set(brokers) == {"broker-east", "broker-west"}
    for name, service in brokers.items():
        command = service["command"]
        volume = mounts(service)[option(command, "--data-dir")]
        assert volume in spec["volumes"], f"{name}: its data dir is not on a named volume"
        config_file = Path(mounts(service)[option(command, "--config")])
        assert config_file.is_file(), config_file
        config = yaml.safe_load(config_file.read_text())
        # The compose network's listener: advertised by the service name, the topology's bootstrap.
        assert config["advertised-host"] == name
        assert f"{name}:{port_of(option(command, '--listen'))}" in bootstraps
        # Every other listener is published on the host at the port it advertises, on loopback.
        listeners = {port_of(listener["listen"]): listener["advertised"] for listener in config["listeners"]}
        assert published(service) == {port: ("127.0.0.1", port_of(advertised)) for port, advertised in listeners.items()}
        assert all(advertised.startswith("127.0.0.1:") for advertised in listeners.values())
    assert len(bootstraps) == len(topology["sites"]) == 2


def test_the_replicator_runs_the_topology_file_that_passes_check_and_links_as_the_shipped_one():
    service = strait_services()["replicator"]
    container_path = service["command"][1]
    topology_file = Path(mounts(service)[container_path])
    assert topology_file == (DOCKER / "topology.yaml").resolve()
    healthcheck = [words for where, words in strait_commands() if where == "replicator healthcheck"][0]
    assert healthcheck[:2] == ["status", container_path]

    check = subprocess.run([str(strait_binary()), "topology", "check", str(topology_file)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and ": ok: topology orders-dr (active-passive), 2 sites, 1 link" in check.stdout, check

    def links(path: Path) -> str:
        shown = subprocess.run([str(strait_binary()), "topology", "show", str(path)], capture_output=True, text=True,
                               timeout=30, check=True).stdout
        return shown[shown.index("\nlinks:"):]
    assert links(topology_file) == links(REPO_ROOT / "topologies" / "active-passive.yaml")

    status = yaml.safe_load(topology_file.read_text())["status"]
    assert status.startswith("0.0.0.0:"), "reachable from the Prometheus container"
    assert published(service) == {port_of(status): ("127.0.0.1", port_of(status))}
    for broker in ("broker-east", "broker-west"):
        assert service["depends_on"][broker] == {"condition": "service_healthy"}


def test_prometheus_scrapes_the_replicator_and_grafana_reads_prometheus():
    spec = compose()
    prometheus = spec["services"]["prometheus"]
    config_path = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    config = yaml.safe_load(Path(mounts(prometheus)[config_path]).read_text())
    targets = {target for job in config["scrape_configs"] for static in job["static_configs"] for target in static["targets"]}
    status_port = port_of(yaml.safe_load((DOCKER / "topology.yaml").read_text())["status"])
    assert targets == {f"replicator:{status_port}"}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])
    storage = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--storage.tsdb.path="))
    assert mounts(prometheus)[storage] in spec["volumes"]

    grafana = spec["services"]["grafana"]
    provisioning = Path(mounts(grafana)["/etc/grafana/provisioning"])
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", f"http://prometheus:{list(published(prometheus))[0]}")
    [provider] = yaml.safe_load((provisioning / "dashboards" / "strait.yaml").read_text())["providers"]
    dashboards = Path(mounts(grafana)[provider["options"]["path"]])
    assert dashboards.is_dir() and (dashboards / "README.md").is_file()
    assert all(json.loads(path.read_text()) for path in dashboards.glob("*.json")), "every dashboard file is JSON"
    assert mounts(grafana)["/var/lib/grafana"] in spec["volumes"]


def test_every_mount_exists_and_every_named_volume_is_declared_and_used():
    spec = compose()
    used = set()
    for name, service in spec["services"].items():
        for target, source in mounts(service).items():
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {source} (mounted at {target}) is not in docker/"
            else:
                used.add(source)
    assert used == set(spec["volumes"])


def test_the_broker_config_files_start_a_real_broker(tmp_path):
    """Each broker-*.yaml as `strait broker --config` reads it, its listeners moved to free loopback ports."""
    for path in sorted(DOCKER.glob("broker-*.yaml")):
        config = yaml.safe_load(path.read_text())
        for listener in config["listeners"]:
            listener["listen"] = f"127.0.0.1:{free_port()}"
        broker = Broker(tmp_path / path.stem, path.stem, config)
        try:
            broker.start()
            log = broker.log_path.read_text()
            for listener in config["listeners"]:
                assert f"strait broker listener {listener['name']} on {listener['listen']}" in log, log
        finally:
            broker.teardown()


# --- the Dockerfile's packages ---------------------------------------------------------------

def debian_package(library: str) -> str | None:
    """The Debian package that owns a library file (None: no package does)."""
    for candidate in dict.fromkeys([library, str(Path(library).resolve())]):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0]
    return None


def installed_with_dependencies(packages: list[str]) -> set[str]:
    """`packages` and everything they depend on, by this machine's dpkg database (Debian 12, the
    runtime stage's release), for what apt-get pulls in on its own."""
    listing = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Depends}, ${Pre-Depends}\n"],
                             capture_output=True, text=True, check=True).stdout
    depends = {}
    for line in listing.splitlines():
        name, _, fields = line.partition("\t")
        alternatives = [[re.sub(r"[ (:].*", "", choice.strip()) for choice in group.split("|")] for group in fields.split(",") if group.strip()]
        depends[name] = alternatives
    closure, queue = set(), list(packages)
    while queue:
        package = queue.pop()
        if package in closure:
            continue
        assert package in depends, f"{package} is not installed on this machine, so its dependencies cannot be read"
        closure.add(package)
        for group in depends[package]:
            queue += [choice for choice in group if choice in depends][:1]
    return closure


def needed(path: str) -> list[str]:
    dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


def test_the_runtime_stage_installs_every_library_the_binary_needs():
    build, runtime = stages()[0], stages()[-1]
    runtime_packages = apt_installed(runtime)
    binary = str(strait_binary())
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(["ldd", binary], capture_output=True, text=True,
                                                                        check=True).stdout, re.M))
    assert "libssl.so.3" in resolved and "libc.so.6" in resolved, resolved

    # Libraries no Debian package owns are the toolchain's Swift runtime, which the build stage
    # links into the binary; what they need in turn the binary needs.
    swift_runtime = {name for name, path in resolved.items() if debian_package(path) is None}
    assert all("/swift/" in resolved[name] for name in swift_runtime), swift_runtime
    assert any("--static-swift-stdlib" in arguments for keyword, arguments in build if keyword == "RUN")
    direct = set(needed(binary)) | {library for name in swift_runtime for library in needed(resolved[name])}
    direct_packages = {debian_package(resolved[name]) for name in direct - swift_runtime if name in resolved}

    missing_direct = sorted(direct_packages - set(runtime_packages))
    assert missing_direct == [], f"the runtime stage should name what the binary links directly: {missing_direct}"
    covered = installed_with_dependencies(runtime_packages)
    missing = sorted({debian_package(path) for name, path in resolved.items() if name not in swift_runtime} - covered)
    assert missing == [], f"ldd shows libraries of packages the runtime stage does not install: {missing}"
    assert {"libssl3", "liblz4-1", "libzstd1", "libsnappy1v5", "zlib1g"} <= direct_packages


def test_the_build_stage_matches_the_toolchain_and_the_packages_the_build_needs():
    build, runtime = stages()[0], stages()[-1]
    image = instruction(build, "FROM").split()[0]
    version = re.search(r"Swift version (\S+)", subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
                        + subprocess.run(["swift", "--version"], capture_output=True, text=True).stderr)
    assert version, "swift --version names its version"
    assert image == f"swift:{version[1].removesuffix('-RELEASE')}-bookworm"
    assert instruction(runtime, "FROM") == "debian:bookworm-slim", "the Debian release the build stage's image is on"
    manifest = (REPO_ROOT / "Package.swift").read_text()
    providers = {package for group in re.findall(r"\.apt\(\[([^\]]*)\]\)", manifest) for package in re.findall(r'"([^"]+)"', group)}
    assert providers and providers <= set(apt_installed(build)), sorted(providers - set(apt_installed(build)))
    copied = {arguments.split()[0] for keyword, arguments in build if keyword == "COPY"}
    assert copied == {"Package.swift", "Sources", "Tests"}
    ignore = [line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore == ["*"] + sorted(f"!{path}" for path in copied), "the context is what the build copies, nothing more"
