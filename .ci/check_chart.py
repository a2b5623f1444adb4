"""Chart check: lint, schema, render and Kubernetes-schema validation of helm/identity.

Run by .ci/check-chart inside a virtualenv holding helm-python-sdk (Helm's own Go engine through a
C library, so no helm binary is needed) and kubernetes-validate (the Kubernetes OpenAPI schemas,
shipped in the package, so nothing is fetched at run time).

For every example values file under helm/identity/ci/ it renders the chart as `helm install`
would and validates every manifest strictly against the oldest supported and the newest
Kubernetes version. It also checks the chart's own promises (non-root, read-only root fs, probes,
no Secret objects) and that unsupported combinations are refused with a `fail` message.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import helm_python
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "identity"
# the chart's kubeVersion floor (gRPC probes are GA from 1.27) and the newest schemas we ship
KUBE_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
RELEASE = "identity"
NAMESPACE = "identity"

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  FAIL {message}")


def load_values(path: pathlib.Path) -> dict[str, Any]:
    return helm_python.values_from_yaml(path.read_text())


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm_python.Chart.load(CHART)
    chart.validate_schema(values)
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                doc["__source"] = path
                docs.append(doc)
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    return None


def check_policies(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    kinds = [d["kind"] for d in docs]
    if "Secret" in kinds:
        fail(f"{name}: the chart must reference secrets, never create them")
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    core = next((d for n, d in deployments.items() if n.endswith("-identity-core")), None)
    edge = next((d for n, d in deployments.items() if n.endswith("-scim-edge")), None)
    if core is None or edge is None:
        fail(f"{name}: expected identity-core and scim-edge Deployments, got {sorted(deployments)}")
        return
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        label = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{label}: pod must set runAsNonRoot")
        for container in spec["containers"]:
            ctx = container.get("securityContext", {})
            if not ctx.get("readOnlyRootFilesystem") or ctx.get("allowPrivilegeEscalation", True):
                fail(f"{label}: container {container['name']} needs a read-only root fs and no privilege escalation")
            if not container.get("resources", {}).get("requests"):
                fail(f"{label}: container {container['name']} has no resource requests")
    core_container = core["spec"]["template"]["spec"]["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if "grpc" not in core_container.get(probe, {}):
            fail(f"{name}: identity-core {probe} must be a gRPC probe")
    if core_container.get("args") != ["serve"]:
        fail(f"{name}: identity-core must run `serve`")
    edge_container = edge["spec"]["template"]["spec"]["containers"][0]
    if edge_container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        fail(f"{name}: scim-edge liveness must probe /healthz")
    if edge_container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        fail(f"{name}: scim-edge readiness must probe /readyz")
    edge_annotations = edge["spec"]["template"]["metadata"].get("annotations", {})
    if edge_annotations.get("prometheus.io/path") != "/metrics":
        fail(f"{name}: scim-edge pods must advertise /metrics to Prometheus")
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    # the core accepts and the edge presents the same identity.v1 credential, from one Secret
    edge_secret = values["edgeCredentialSecret"]["name"]
    for deployment, variable in ((core, "IDENTITY_EDGE_CREDENTIAL_FILE"), (edge, "SCIM_EDGE_CORE_CREDENTIAL_FILE")):
        spec = deployment["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0].get("volumeMounts", [])}
        path = configmaps.get(deployment["metadata"]["name"], {}).get(variable, "")
        mounted = [mounts[v] for v, secret in secrets.items() if secret == edge_secret and v in mounts]
        if not mounted or not any(path.startswith(m + "/") for m in mounted):
            fail(f"{name}: {deployment['metadata']['name']} must read {variable} from the mounted Secret {edge_secret}")
    edge_config = configmaps.get(edge["metadata"]["name"], {})
    core_service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == core["metadata"]["name"])
    expected_endpoint = f"http://{core_service['metadata']['name']}:{core_service['spec']['ports'][0]['port']}"
    if edge_config.get("SCIM_EDGE_CORE_ENDPOINT") != expected_endpoint:
        fail(f"{name}: SCIM_EDGE_CORE_ENDPOINT {edge_config.get('SCIM_EDGE_CORE_ENDPOINT')!r} != {expected_endpoint!r}")
    core_config = configmaps.get(core["metadata"]["name"], {})
    mode = values["database"]["mode"]
    jobs = [d for d in docs if d["kind"] == "Job"]
    if mode == "postgres":
        if "IDENTITY_DATABASE_URL" in core_config:
            fail(f"{name}: the postgres URL must come from a Secret, not the ConfigMap")
        if len(jobs) != 1 or jobs[0]["spec"]["template"]["spec"]["containers"][0].get("args") != ["migrate"]:
            fail(f"{name}: postgres mode needs exactly one `identity-core migrate` Job")
        elif "pre-install" not in jobs[0]["metadata"]["annotations"].get("helm.sh/hook", ""):
            fail(f"{name}: the migration Job must be a pre-install,pre-upgrade hook")
        if core_config.get("IDENTITY_MIGRATE_ON_START") != "false":
            fail(f"{name}: with the migration Job the core must not migrate on start")
    else:
        if not core_config.get("IDENTITY_DATABASE_URL", "").startswith("sqlite://"):
            fail(f"{name}: sqlite mode must set a sqlite:// IDENTITY_DATABASE_URL")
        if core["spec"].get("strategy", {}).get("type") != "Recreate":
            fail(f"{name}: sqlite mode must use the Recreate strategy")


def check_values_file(path: pathlib.Path) -> None:
    name = path.name
    print(f"- {name}")
    values = load_values(path)
    report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:
            fail(f"{name}: helm lint: {message.get('path')}: {message.get('error')}")
    for error in report.get("errors") or []:
        fail(f"{name}: helm lint: {error}")
    try:
        docs = render(values)
    except helm_python.HelmError as error:
        fail(f"{name}: render failed: {error}")
        return
    for version in KUBE_VERSIONS:
        for doc in docs:
            source = doc.pop("__source")
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                fail(f"{name}: {source}: invalid for Kubernetes {version}: {error.message} at {list(error.path)}")
            except kubernetes_validate.SchemaNotFoundError as error:
                fail(f"{name}: {source}: {error}")
            doc["__source"] = source
    print(f"  {len(docs)} manifests valid for Kubernetes {', '.join(KUBE_VERSIONS)}: "
          + ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)))
    check_policies(name, docs, values)


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = yaml.safe_load(yaml.safe_dump(base))
    for dotted, value in changes.items():
        node = merged
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return merged


def check_refusals() -> None:
    """Unsupported combinations must stop the render with a message naming the fix."""
    dev = load_values(CHART / "ci" / "sqlite-dev-values.yaml")
    prod = load_values(CHART / "ci" / "postgres-prod-values.yaml")
    cases = [
        ("sqlite with 2 core replicas", dev, {"identityCore.replicaCount": 2}, "replicaCount=1 only"),
        ("postgres without a URL secret", prod, {"database.existingSecret.name": ""}, "database.existingSecret.name"),
        ("no bootstrap admin secret", dev, {"admin.bootstrapTokenSecret.name": ""}, "admin.bootstrapTokenSecret.name"),
        ("no edge credential secret", prod, {"edgeCredentialSecret.name": ""}, "edgeCredentialSecret.name"),
        ("ingress without a base URL", prod, {"scimEdge.baseUrl": ""}, "scimEdge.baseUrl"),
        ("unknown database mode", dev, {"database.mode": "mysql"}, "mode"),
        ("misspelt value", dev, {"identityCore.replicas": 2}, "replicas"),
        ("negative token cache ttl", dev, {"scimEdge.tokenCacheTtlSecs": -1}, "tokenCacheTtlSecs"),
    ]
    print("- refusals")
    for label, base, changes, expected in cases:
        try:
            render(with_changes(base, changes))
        except helm_python.HelmError as error:
            if expected not in str(error):
                fail(f"{label}: refused, but the message does not mention {expected!r}: {error}")
            else:
                print(f"  ok {label}")
            continue
        fail(f"{label}: rendered although it must be refused")


def main() -> int:
    files = sorted((CHART / "ci").glob("*-values.yaml"))
    if not files:
        print(f"no values files under {CHART / 'ci'}")
        return 1
    for path in files:
        check_values_file(path)
    check_refusals()
    if failures:
        print(f"chart check: {len(failures)} problem(s)")
        return 1
    print(f"chart check: {len(files)} values files rendered and validated, refusals checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
