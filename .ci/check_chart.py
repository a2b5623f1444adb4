"""Chart check: lint, schema, render and Kubernetes-schema validation of helm/identity.

Run by .ci/check-chart inside a virtualenv holding helm-python-sdk (Helm's own Go engine through a
C library, so no helm binary is needed) and kubernetes-validate (the Kubernetes OpenAPI schemas,
shipped in the package, so nothing is fetched at run time).

For every example values file under helm/identity/ci/ it renders the chart as `helm install`
would and validates every manifest strictly against the oldest supported and the newest
Kubernetes version. It also checks the chart's own promises (non-root, read-only root fs, probes,
no Secret objects, the NetworkPolicies' reachability, the ServiceMonitor, the core's autoscaling)
and that unsupported combinations are refused with a `fail` message or by values.schema.json.

Custom resources have no schema in kubernetes-validate (its CLI would only print WARN for them):
the API versions in CUSTOM_RESOURCES are never handed to it, their shape is asserted here
instead, and any other kind without a schema fails the check.
"""

from __future__ import annotations

import json
import pathlib
import re
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
# what the ci values files exercised, so a feature cannot lose its coverage unnoticed
exercised: dict[str, set[str]] = {}


def fail(message: str) -> None:
    failures.append(message)
    print(f"  FAIL {message}")


def load_values(path: pathlib.Path) -> dict[str, Any]:
    return helm_python.values_from_yaml(path.read_text())


def merged_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """The values the templates see: the chart's values.yaml overlaid as Helm does (maps merge, the rest replaces)."""

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            out = dict(base)
            for key, value in override.items():
                out[key] = merge(base.get(key), value)
            return out
        return override

    return merge(load_values(CHART / "values.yaml"), overrides)


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
    core_annotations = core["spec"]["template"]["metadata"].get("annotations", {})
    core_ports = {p["name"]: p["containerPort"] for p in core_container.get("ports", [])}
    if core_annotations.get("prometheus.io/path") != "/metrics" or str(core_ports.get("metrics")) != core_annotations.get("prometheus.io/port"):
        fail(f"{name}: identity-core pods must advertise /metrics on their metrics port")
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


# --- NetworkPolicy reachability -------------------------------------------------------------------
# Evaluated the way the API defines it: the policies selecting a pod add up; a pod no policy of a
# type selects is open in that direction; a rule without ports covers every port, a rule without
# from/to every peer. ipBlock peers are taken to match no pod (pod IPs are not what they are for).

NAMESPACE_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}
ANY = None  # a rule without from/to


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def peer_reaches(peer: dict[str, Any], pod_labels: dict[str, str], namespace_labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicyPeer (relative to the policy's namespace, NAMESPACE) covers a pod."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer and not selector_matches(peer["namespaceSelector"], namespace_labels):
        return False
    return selector_matches(peer.get("podSelector", {}), pod_labels)


def covers_port(rule: dict[str, Any], port: int, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        number = entry.get("port")
        if number is None or (isinstance(number, int) and number <= port <= entry.get("endPort", number)):
            return True
    return False


def policies_selecting(docs: list[dict[str, Any]], pod_labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    policies = []
    for doc in docs:
        if doc["kind"] != "NetworkPolicy" or not selector_matches(doc["spec"]["podSelector"], pod_labels):
            continue
        types = doc["spec"].get("policyTypes") or (["Ingress", "Egress"] if "egress" in doc["spec"] else ["Ingress"])
        if direction in types:
            policies.append(doc)
    return policies


def allowed_peers(
    docs: list[dict[str, Any]], pod_labels: dict[str, str], direction: str, port: int, protocol: str = "TCP"
) -> list[Any] | None:
    """The peers a pod accepts (Ingress) or reaches (Egress) on a port: None is anyone, [] no one."""
    policies = policies_selecting(docs, pod_labels, direction)
    if not policies:
        return None
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    peers: list[Any] = []
    for policy in policies:
        for rule in policy["spec"].get(key) or []:
            if not covers_port(rule, port, protocol):
                continue
            if not rule.get(peers_key):
                return None
            peers.extend(rule[peers_key])
    return peers


def canonical(peers: list[Any]) -> list[str]:
    return sorted(json.dumps(p, sort_keys=True) for p in peers)


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"].get("labels", {})


def check_network_policies(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    np = values["networkPolicy"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    if not np["enabled"]:
        if policies:
            fail(f"{name}: networkPolicy.enabled=false must render no NetworkPolicy")
        return
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    core = next(d for n, d in deployments.items() if n.endswith("-identity-core"))
    edge = next(d for n, d in deployments.items() if n.endswith("-scim-edge"))
    core_labels, edge_labels = pod_labels(core), pod_labels(edge)
    grpc_port = values["identityCore"]["grpcPort"]
    admin_port = values["identityCore"]["adminPort"]
    db_port = np["databasePort"]

    # identity-core ingress: identity.v1 only from the edge's pods and the listed namespaces/peers
    for direction in ("Ingress", "Egress"):
        if not policies_selecting(docs, core_labels, direction):
            fail(f"{name}: no NetworkPolicy restricts identity-core {direction.lower()}")
    grpc_peers = allowed_peers(docs, core_labels, "Ingress", grpc_port)
    edge_peer = {"podSelector": {"matchLabels": edge["spec"]["selector"]["matchLabels"]}}
    expected = [edge_peer] + [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in np["identityClientNamespaces"]
    ] + list(np["identityClients"])
    if grpc_peers is None:
        fail(f"{name}: identity-core's grpc port {grpc_port} is open to any source")
    elif canonical(grpc_peers) != canonical(expected):
        fail(f"{name}: identity-core's grpc port {grpc_port} admits {grpc_peers}, expected exactly {expected}")
    elif not peer_reaches(edge_peer, edge_labels, NAMESPACE_LABELS) or peer_reaches(edge_peer, core_labels, NAMESPACE_LABELS):
        fail(f"{name}: the grpc port's pod selector must select the scim-edge pods only")
    else:
        exercised.setdefault("core grpc port limited to edge + client namespaces", set()).add(name)
        if np["identityClientNamespaces"]:
            exercised.setdefault("identityClientNamespaces", set()).add(name)
    # admin.v1: never the edge, never everyone
    admin_peers = allowed_peers(docs, core_labels, "Ingress", admin_port)
    if admin_peers is None:
        fail(f"{name}: identity-core's admin port {admin_port} is open to any source")
    elif any(peer_reaches(p, edge_labels, NAMESPACE_LABELS) for p in admin_peers):
        fail(f"{name}: identity-core's admin port {admin_port} admits the scim-edge pods: {admin_peers}")
    for policy in policies_selecting(docs, core_labels, "Ingress"):
        for rule in policy["spec"].get("ingress") or []:
            if not rule.get("ports"):
                fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} has an ingress rule for every port")

    # the database: the core and the migration Job reach it, the edge never does
    database = list(np["database"])
    mode = values["database"]["mode"]
    if mode == "postgres":
        core_db = allowed_peers(docs, core_labels, "Egress", db_port)
        if (core_db is None) != (not database) or (core_db is not None and canonical(core_db) != canonical(database)):
            fail(f"{name}: identity-core's egress to the database port {db_port} reaches "
                 f"{'anyone' if core_db is None else core_db or 'no one'}, expected {database or 'anyone'}")
    before_edge = len(failures)
    edge_policies = policies_selecting(docs, edge_labels, "Egress")
    if not edge_policies:
        fail(f"{name}: no NetworkPolicy restricts scim-edge egress, so it could reach the database")
    for policy in edge_policies:
        for rule in policy["spec"].get("egress") or []:
            if covers_port(rule, db_port):
                fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} lets scim-edge reach the database port {db_port}: {rule}")
    edge_to_core = allowed_peers(docs, edge_labels, "Egress", grpc_port)
    if edge_to_core is not None and not any(peer_reaches(p, core_labels, NAMESPACE_LABELS) for p in edge_to_core):
        fail(f"{name}: scim-edge's egress does not reach identity-core's grpc port {grpc_port}")
    edge_to_admin = allowed_peers(docs, edge_labels, "Egress", admin_port)
    if edge_to_admin is None or any(peer_reaches(p, core_labels, NAMESPACE_LABELS) for p in edge_to_admin):
        fail(f"{name}: scim-edge's egress reaches identity-core's admin port {admin_port}")
    edge_sources = allowed_peers(docs, edge_labels, "Ingress", values["scimEdge"]["port"])
    if edge_sources == [] or (edge_sources is None) != (not np["edgeIngressFrom"]):
        fail(f"{name}: scim-edge's port must admit networkPolicy.edgeIngressFrom, or anyone when it is empty: {edge_sources}")
    if len(failures) == before_edge:
        exercised.setdefault("edge egress without the database", set()).add(name)

    # the migration Job: DNS and the database, from a policy that exists before the Job runs
    jobs = [d for d in docs if d["kind"] == "Job"]
    for job in jobs:
        before_job = len(failures)
        labels = pod_labels(job)
        job_policies = policies_selecting(docs, labels, "Egress")
        job_db = allowed_peers(docs, labels, "Egress", db_port)
        if not job_policies:
            fail(f"{name}: no NetworkPolicy restricts the migration Job's egress")
            continue
        if (job_db is None) != (not database) or (job_db is not None and canonical(job_db) != canonical(database)):
            fail(f"{name}: the migration Job's egress to the database port {db_port} reaches "
                 f"{'anyone' if job_db is None else job_db or 'no one'}, expected {database or 'anyone'}")
        if allowed_peers(docs, labels, "Egress", 53, "UDP") == []:
            fail(f"{name}: the migration Job cannot resolve names (no DNS egress)")
        job_hooks = set(job["metadata"]["annotations"].get("helm.sh/hook", "").split(","))
        job_weight = int(job["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))
        for policy in job_policies:
            annotations = policy["metadata"]["annotations"]
            hooks = set(annotations.get("helm.sh/hook", "").split(","))
            if not job_hooks <= hooks or int(annotations.get("helm.sh/hook-weight", "0")) >= job_weight:
                fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} must be a {','.join(sorted(job_hooks))} hook "
                     f"weighted below the Job ({job_weight}), or it does not exist when the Job runs")
        if len(failures) == before_job:
            exercised.setdefault("migration Job reaches the database", set()).add(name)
    for policy in policies:
        if not any(selector_matches(policy["spec"]["podSelector"], pod_labels(d)) for d in docs if pod_spec(d)):
            fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} selects no pod of the release")


# --- ServiceMonitor (a custom resource: kubernetes-validate has no schema for it) -----------------

SERVICE_MONITOR_SPEC_KEYS = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels",
                             "podTargetLabels", "sampleLimit", "attachMetadata"}
SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                                 "honorTimestamps", "relabelings", "metricRelabelings", "tlsConfig", "params"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h))+$")


def check_service_monitor_shape(doc: dict[str, Any]) -> list[str]:
    """What the monitoring.coreos.com/v1 CRD would refuse, for the fields the chart renders."""
    problems = []
    unknown = set(doc) - {"apiVersion", "kind", "metadata", "spec", "__source"}
    if unknown:
        problems.append(f"unknown top-level fields {sorted(unknown)}")
    metadata = doc.get("metadata", {})
    if not metadata.get("name") or not all(isinstance(v, str) for v in (metadata.get("labels") or {}).values()):
        problems.append("metadata needs a name and string labels")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return problems + ["no spec"]
    if set(spec) - SERVICE_MONITOR_SPEC_KEYS:
        problems.append(f"unknown spec fields {sorted(set(spec) - SERVICE_MONITOR_SPEC_KEYS)}")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        problems.append("spec.selector must select by labels (an empty selector takes every Service)")
    names = (spec.get("namespaceSelector") or {}).get("matchNames", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append("spec.namespaceSelector.matchNames must be a list of names")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return problems + ["spec.endpoints must be a non-empty list"]
    for endpoint in endpoints:
        if not isinstance(endpoint, dict) or set(endpoint) - SERVICE_MONITOR_ENDPOINT_KEYS:
            problems.append(f"endpoint {endpoint} has unknown fields")
            continue
        if not isinstance(endpoint.get("port"), str):
            problems.append("an endpoint must name its Service port (a string)")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not DURATION.match(str(endpoint[key])):
                problems.append(f"endpoint {key} {endpoint[key]!r} is not a Prometheus duration")
        if endpoint.get("scheme", "http") not in ("http", "https"):
            problems.append(f"endpoint scheme {endpoint['scheme']!r}")
    return problems


# apiVersion -> kind -> shape check; these are never handed to kubernetes-validate
CUSTOM_RESOURCES = {"monitoring.coreos.com/v1": {"ServiceMonitor": check_service_monitor_shape}}


def check_service_monitor(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    sm = values["serviceMonitor"]
    if not sm["enabled"]:
        if monitors:
            fail(f"{name}: serviceMonitor.enabled=false must render no ServiceMonitor")
        return
    if len(monitors) != 1:
        fail(f"{name}: serviceMonitor.enabled needs exactly one ServiceMonitor, got {len(monitors)}")
        return
    monitor = monitors[0]
    services = [d for d in docs if d["kind"] == "Service"]
    selected = [s for s in services if selector_matches(monitor["spec"]["selector"], s["metadata"].get("labels", {}))]
    edge_service = next((s for s in services if s["metadata"]["name"].endswith("-scim-edge")), None)
    if edge_service is None or selected != [edge_service]:
        fail(f"{name}: the ServiceMonitor must select the scim-edge Service only, selects {[s['metadata']['name'] for s in selected]}")
        return
    if monitor["spec"].get("namespaceSelector", {}).get("matchNames") != [NAMESPACE]:
        fail(f"{name}: the ServiceMonitor must look in the release namespace {NAMESPACE}")
    port_names = {p.get("name") for p in edge_service["spec"]["ports"]}
    edge = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == edge_service["metadata"]["name"])
    container_ports = {p["name"]: p["containerPort"] for p in edge["spec"]["template"]["spec"]["containers"][0]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        if endpoint.get("path") != "/metrics":
            fail(f"{name}: the ServiceMonitor must scrape /metrics, not {endpoint.get('path')!r}")
        if endpoint.get("port") not in port_names:
            fail(f"{name}: the ServiceMonitor's port {endpoint.get('port')!r} is not a port name of the Service ({sorted(port_names)})")
            continue
        service_port = next(p for p in edge_service["spec"]["ports"] if p.get("name") == endpoint["port"])
        if container_ports.get(service_port["targetPort"]) != values["scimEdge"]["port"]:
            fail(f"{name}: the ServiceMonitor's port does not lead to the edge's HTTP port {values['scimEdge']['port']}")
        if endpoint.get("interval") != sm["interval"]:
            fail(f"{name}: the ServiceMonitor interval {endpoint.get('interval')!r} != serviceMonitor.interval {sm['interval']!r}")
    labels = monitor["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in (sm.get("labels") or {}).items()):
        fail(f"{name}: the ServiceMonitor lacks serviceMonitor.labels {sm['labels']}")
    exercised.setdefault("ServiceMonitor", set()).add(name)


# --- identity-core autoscaling ----------------------------------------------------------------------

def check_core_scaling(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    core = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-identity-core"))
    core_name = core["metadata"]["name"]
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == core_name]
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget" and selector_matches(d["spec"]["selector"], pod_labels(core))]
    autoscaling = values["identityCore"]["autoscaling"]
    if values["database"]["mode"] == "sqlite":
        if hpas or pdbs:
            fail(f"{name}: sqlite mode runs one core replica: no HorizontalPodAutoscaler or PodDisruptionBudget for it")
        if core["spec"].get("replicas") != 1:
            fail(f"{name}: sqlite mode must run exactly one core replica, got {core['spec'].get('replicas')}")
        return
    if autoscaling["enabled"]:
        if len(hpas) != 1:
            fail(f"{name}: identityCore.autoscaling.enabled needs one HorizontalPodAutoscaler for {core_name}, got {len(hpas)}")
            return
        spec = hpas[0]["spec"]
        if (spec["minReplicas"], spec["maxReplicas"]) != (autoscaling["minReplicas"], autoscaling["maxReplicas"]):
            fail(f"{name}: the core HPA's bounds {spec['minReplicas']}..{spec['maxReplicas']} differ from the values")
        if spec["scaleTargetRef"].get("kind") != "Deployment":
            fail(f"{name}: the core HPA must scale the Deployment")
        if "replicas" in core["spec"]:
            fail(f"{name}: with its HPA the core Deployment must leave spec.replicas to it")
        minimum = autoscaling["minReplicas"]
        exercised.setdefault("core HPA (postgres)", set()).add(name)
    else:
        if hpas:
            fail(f"{name}: identityCore.autoscaling is off but a core HPA is rendered")
        minimum = values["identityCore"]["replicaCount"]
    want_pdb = values["identityCore"]["podDisruptionBudget"]["enabled"] and minimum > 1
    if want_pdb != bool(pdbs):
        fail(f"{name}: the core PodDisruptionBudget must exist exactly when more than one replica runs ({minimum})")


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
    custom = [d for d in docs if d.get("apiVersion") in CUSTOM_RESOURCES]
    for doc in custom:
        shape_check = CUSTOM_RESOURCES[doc["apiVersion"]].get(doc["kind"])
        if shape_check is None:
            fail(f"{name}: {doc['__source']}: {doc['apiVersion']} {doc['kind']} has no schema and no shape check")
            continue
        for problem in shape_check(doc):
            fail(f"{name}: {doc['__source']}: {doc['kind']}: {problem}")
    for version in KUBE_VERSIONS:
        for doc in docs:
            if doc.get("apiVersion") in CUSTOM_RESOURCES:
                continue
            source = doc.pop("__source")
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                fail(f"{name}: {source}: invalid for Kubernetes {version}: {error.message} at {list(error.path)}")
            except kubernetes_validate.SchemaNotFoundError as error:
                fail(f"{name}: {source}: {error}")
            doc["__source"] = source
    print(f"  {len(docs) - len(custom)} manifests valid for Kubernetes {', '.join(KUBE_VERSIONS)}: "
          + ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d not in custom)))
    if custom:
        print("  custom resources, shape checked here (no Kubernetes schema): "
              + ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']} ({d['apiVersion']})" for d in custom)))
    check_policies(name, docs, values)
    effective = merged_values(values)
    check_network_policies(name, docs, effective)
    check_service_monitor(name, docs, effective)
    check_core_scaling(name, docs, effective)


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
        ("sqlite with core autoscaling", dev, {"identityCore.autoscaling.enabled": True},
         "identityCore.autoscaling.enabled needs database.mode=postgres"),
        ("core autoscaling max below min", prod, {"identityCore.autoscaling.maxReplicas": 2}, "maxReplicas must be at least"),
        ("ServiceMonitor with a bad interval", prod, {"serviceMonitor.interval": "30 seconds"}, "interval"),
        ("ServiceMonitor with an hour interval", dev, {"serviceMonitor.enabled": True, "serviceMonitor.interval": "1h"}, "interval"),
        ("misspelt NetworkPolicy peer", prod, {"networkPolicy.database": [{"ipblock": {"cidr": "10.40.0.0/24"}}]}, "ipblock"),
        ("client namespace not a name", prod, {"networkPolicy.identityClientNamespaces": ["Platform_1"]}, "identityClientNamespaces"),
        ("edge pods labelled admin clients", dev, {"scimEdge.podLabels": {"identity-admin-client": "true"}},
         "networkPolicy.adminClientPodLabels"),
        ("OTLP endpoint port out of range", dev, {"otel.endpoint": "http://collector:70000"}, "otel.endpoint"),
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


def check_edge_credential_rotation() -> None:
    """While the edge credential is rotated, the core also reads the previous one."""
    prod = load_values(CHART / "ci" / "postgres-prod-values.yaml")
    print("- edge credential rotation")
    docs = render(with_changes(prod, {"edgeCredentialSecret.previousKey": "previous"}))
    core = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-identity-core"))
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == core["metadata"]["name"])
    items = [i for v in core["spec"]["template"]["spec"]["volumes"] if v["name"] == "edge-credential" for i in v["secret"]["items"]]
    if {"key": "previous", "path": "previous"} not in items:
        fail(f"rotation: the previous key is not mounted: {items}")
    if config["data"].get("IDENTITY_EDGE_CREDENTIAL_PREVIOUS_FILE") != "/var/run/secrets/identity/edge/previous":
        fail("rotation: IDENTITY_EDGE_CREDENTIAL_PREVIOUS_FILE is not set")
    print("  ok previous credential mounted and configured")


def main() -> int:
    files = sorted((CHART / "ci").glob("*-values.yaml"))
    if not files:
        print(f"no values files under {CHART / 'ci'}")
        return 1
    for path in files:
        check_values_file(path)
    check_refusals()
    check_edge_credential_rotation()
    # the ci values files must keep exercising what the chart promises
    print("- coverage")
    required = {
        "core grpc port limited to edge + client namespaces": None,
        "identityClientNamespaces": "postgres-prod-values.yaml",
        "edge egress without the database": None,
        "migration Job reaches the database": "postgres-prod-values.yaml",
        "ServiceMonitor": "postgres-prod-values.yaml",
        "core HPA (postgres)": "postgres-prod-values.yaml",
    }
    for feature, where in required.items():
        seen = exercised.get(feature, set())
        if not seen or (where is not None and where not in seen):
            fail(f"no ci values file{' ' + where if where else ''} exercises: {feature}")
        else:
            print(f"  ok {feature}: {', '.join(sorted(seen))}")
    if failures:
        print(f"chart check: {len(failures)} problem(s)")
        return 1
    print(f"chart check: {len(files)} values files rendered and validated, refusals checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
