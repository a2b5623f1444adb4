"""Chart check: lint, schema, render and Kubernetes-schema validation of helm/identity.

Run by .ci/check-chart inside a virtualenv holding helm-python-sdk (Helm's own Go engine through a
C library, so no helm binary is needed) and kubernetes-validate (the Kubernetes OpenAPI schemas,
shipped in the package, so nothing is fetched at run time).

For the chart's defaults alone (no values file, what `helm install identity ./helm/identity`
renders) and for every example values file under helm/identity/ci/ it renders the chart as
`helm install` would and validates every manifest strictly against the oldest supported and the
newest Kubernetes version. It also checks the chart's own promises (non-root, read-only root fs,
probes, a Secret rendered exactly for each credential the values do not name, every setting of
docs/operations.md wired into the processes, the NetworkPolicies' reachability, the `helm test`
hooks, the ServiceMonitor, the core's autoscaling) and that unknown keys and unsupported
combinations are refused with a `fail` message or by values.schema.json.

Custom resources have no schema in kubernetes-validate (its CLI would only print WARN for them):
the API versions in CUSTOM_RESOURCES are never handed to it, their shape is asserted here
instead, and any other kind without a schema fails the check.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import shutil
import sys
import tempfile
from typing import Any

import helm_python
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "identity"
OPERATIONS_GUIDE = ROOT / "docs" / "operations.md"
# the chart's kubeVersion floor (gRPC probes are GA from 1.27) and the newest schemas we ship
KUBE_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
RELEASE = "identity"
NAMESPACE = "identity"
# the case rendering the chart's values.yaml alone
DEFAULTS = "defaults (no values file)"

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


def render_files(values: dict[str, Any], chart_dir: pathlib.Path = CHART) -> dict[str, str]:
    """Every rendered template by path, NOTES.txt included, as `helm install` renders them."""
    chart = helm_python.Chart.load(chart_dir)
    chart.validate_schema(values)
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = render_files(values)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                metadata = doc.setdefault("metadata", {})
                # `annotations:` with only comments under it is null
                metadata["annotations"] = metadata.get("annotations") or {}
                doc["__source"] = path
                docs.append(doc)
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "Pod":
        return doc["spec"]
    return None


def hooks(doc: dict[str, Any]) -> set[str]:
    return {h for h in doc["metadata"]["annotations"].get("helm.sh/hook", "").split(",") if h}


def is_test_hook(doc: dict[str, Any]) -> bool:
    """Created only by `helm test`, never by install or upgrade."""
    return "test" in hooks(doc)


def generated_secret_names(values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The Secret each credential is read from: {"admin"|"edge": (name, key)}, and whether the chart makes it."""
    fullname = RELEASE  # the release name contains the chart name, as in every case here
    admin = values["admin"]["bootstrapTokenSecret"]
    edge = values["edgeCredentialSecret"]
    return {
        "admin": (admin["name"] or f"{fullname}-admin-bootstrap", admin["key"]),
        "edge": (edge["name"] or f"{fullname}-edge-credential", edge["key"]),
    }


def check_secrets(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """A Secret exactly for each credential whose Secret the values do not name; never the database URL."""
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    sources = generated_secret_names(values)
    wanted = {}
    for credential, given in (("admin", values["admin"]["bootstrapTokenSecret"]["name"]),
                              ("edge", values["edgeCredentialSecret"]["name"])):
        if not given:
            wanted[sources[credential][0]] = sources[credential][1]
    if set(secrets) != set(wanted):
        fail(f"{name}: the chart must render exactly the Secrets {sorted(wanted)} (credentials without a "
             f"Secret named in the values), rendered {sorted(secrets)}")
        return
    for secret_name, key in wanted.items():
        secret = secrets[secret_name]
        if secret["metadata"]["annotations"].get("helm.sh/resource-policy") != "keep":
            fail(f"{name}: Secret/{secret_name} must carry helm.sh/resource-policy: keep (uninstall must not drop credentials)")
        if hooks(secret):
            fail(f"{name}: Secret/{secret_name} must be a release resource, not a hook (hooks are not upgraded in place)")
        value = base64.b64decode((secret.get("data") or {}).get(key, "")).decode()
        if not re.fullmatch(r"[A-Za-z0-9]{48}", value):
            fail(f"{name}: Secret/{secret_name} key {key} must hold a random 48-character value, got {len(value)} characters")
    if wanted:
        exercised.setdefault("generated Secrets", set()).add(name)
    if len(wanted) < 2:
        exercised.setdefault("existing Secrets", set()).add(name)


def check_policies(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    check_secrets(name, docs, values)
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
        # over TLS (which gRPC probes cannot speak): HTTP on the metrics port, see check_tls
        wanted = "httpGet" if values["tls"]["enabled"] else "grpc"
        if wanted not in core_container.get(probe, {}):
            fail(f"{name}: identity-core {probe} must be a {wanted} probe")
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
    sources = generated_secret_names(values)
    edge_secret = sources["edge"][0]
    for deployment, variable in ((core, "IDENTITY_EDGE_CREDENTIAL_FILE"), (edge, "SCIM_EDGE_CORE_CREDENTIAL_FILE")):
        spec = deployment["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0].get("volumeMounts", [])}
        path = configmaps.get(deployment["metadata"]["name"], {}).get(variable, "")
        mounted = [mounts[v] for v, secret in secrets.items() if secret == edge_secret and v in mounts]
        if not mounted or not any(path.startswith(m + "/") for m in mounted):
            fail(f"{name}: {deployment['metadata']['name']} must read {variable} from the mounted Secret {edge_secret}")
    core_spec = core["spec"]["template"]["spec"]
    admin_volumes = [v for v in core_spec.get("volumes", []) if v.get("secret", {}).get("secretName") == sources["admin"][0]]
    admin_items = [i for v in admin_volumes for i in v["secret"].get("items", [])]
    if {"key": sources["admin"][1], "path": "token"} not in admin_items or \
            configmaps.get(core["metadata"]["name"], {}).get("IDENTITY_ADMIN_TOKEN_FILE") != "/var/run/secrets/identity/admin/token":
        fail(f"{name}: identity-core must read IDENTITY_ADMIN_TOKEN_FILE from key {sources['admin'][1]} of Secret {sources['admin'][0]}")
    edge_config = configmaps.get(edge["metadata"]["name"], {})
    core_service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == core["metadata"]["name"])
    scheme = "https" if values["tls"]["enabled"] else "http"
    expected_endpoint = f"{scheme}://{core_service['metadata']['name']}:{core_service['spec']['ports'][0]['port']}"
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


# --- settings: every variable of the operations guide reaches its process ------------------------

# documented variables the chart never sets, and why
NOT_SET_BY_CHART = {
    "IDENTITY_CONFIG": "every setting is a variable of the ConfigMap",
    "IDENTITY_ADMIN_TOKEN": "the credential is a mounted file (IDENTITY_ADMIN_TOKEN_FILE)",
    "IDENTITY_EDGE_CREDENTIAL": "the credential is a mounted file (IDENTITY_EDGE_CREDENTIAL_FILE)",
    "IDENTITY_EDGE_CREDENTIAL_PREVIOUS": "a mounted file while rotating (IDENTITY_EDGE_CREDENTIAL_PREVIOUS_FILE)",
    "SCIM_EDGE_CONFIG": "every setting is a variable of the ConfigMap",
    "SCIM_EDGE_CORE_CREDENTIAL": "the credential is a mounted file (SCIM_EDGE_CORE_CREDENTIAL_FILE)",
}
# documented variables the chart sets only when their value asks for it (checked in check_settings_wiring)
SET_WHEN_GIVEN = {
    "IDENTITY_DATABASE_URL": "the ConfigMap (sqlite) or a secretKeyRef (postgres)",
    "IDENTITY_EDGE_CREDENTIAL_PREVIOUS_FILE": "edgeCredentialSecret.previousKey",
    "SCIM_EDGE_BASE_URL": "scimEdge.baseUrl",
    "SCIM_EDGE_CLIENT_ADDRESS_HEADER": "scimEdge.clientAddressHeader",
    "SCIM_EDGE_HEAVY_REQUEST_SLOTS": "scimEdge.throttling.heavyRequestSlots",
}
# the TLS settings: set exactly when tls.enabled (checked in check_tls)
TLS_VARIABLES = {
    "identity-core": {
        "IDENTITY_TLS_CERT_FILE": "/var/run/secrets/identity/tls/tls.crt",
        "IDENTITY_TLS_KEY_FILE": "/var/run/secrets/identity/tls/tls.key",
        "IDENTITY_TLS_CLIENT_CA_FILE": "/var/run/secrets/identity/tls/ca.crt",
        "IDENTITY_TLS_CLIENT_CERTIFICATE_REQUIRED": None,
        "IDENTITY_TLS_EDGE_CLIENT_NAME": None,
        "IDENTITY_TLS_RELOAD_INTERVAL_SECS": None,
    },
    "scim-edge": {
        "SCIM_EDGE_TLS_CERT_FILE": "/var/run/secrets/identity/tls/tls.crt",
        "SCIM_EDGE_TLS_KEY_FILE": "/var/run/secrets/identity/tls/tls.key",
        "SCIM_EDGE_CORE_CA_FILE": "/var/run/secrets/identity/core-client/ca.crt",
        "SCIM_EDGE_CORE_CLIENT_CERT_FILE": "/var/run/secrets/identity/core-client/tls.crt",
        "SCIM_EDGE_CORE_CLIENT_KEY_FILE": "/var/run/secrets/identity/core-client/tls.key",
        "SCIM_EDGE_TLS_RELOAD_INTERVAL_SECS": None,
    },
}
for _variables in TLS_VARIABLES.values():
    SET_WHEN_GIVEN.update({variable: "tls.enabled" for variable in _variables})


def documented_variables() -> dict[str, list[str]]:
    """The variables of the operations guide's tables for identity-core and scim-edge."""
    out: dict[str, list[str]] = {"identity-core": [], "scim-edge": []}
    section = None
    for line in OPERATIONS_GUIDE.read_text().splitlines():
        if line.startswith("### "):
            section = line[4:].strip()
            continue
        if section in out and line.startswith("| `"):
            out[section].append(line.split("`")[1])
    return out


def container_variables(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, Any]:
    """What a Deployment's first container sees: its ConfigMap (envFrom) and its env."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    seen: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        seen.update(configmaps.get(source.get("configMapRef", {}).get("name"), {}))
    for entry in container.get("env", []):
        seen[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return seen


def check_settings(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """Every setting the operations guide documents is given to its process, or is listed above with why not."""
    documented = documented_variables()
    if len(documented["identity-core"]) < 10 or len(documented["scim-edge"]) < 10:
        fail(f"could not read the configuration tables of {OPERATIONS_GUIDE}: {documented}")
        return
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for process, variables in documented.items():
        deployment = next(d for n, d in deployments.items() if n.endswith(f"-{process}"))
        seen = container_variables(docs, deployment)
        for variable in variables:
            if variable in NOT_SET_BY_CHART:
                if variable in seen:
                    fail(f"{name}: {process} must not get {variable}: {NOT_SET_BY_CHART[variable]}")
            elif variable not in SET_WHEN_GIVEN and variable not in seen:
                fail(f"{name}: {process} lacks {variable} (docs/operations.md): give it a value in values.yaml "
                     "and its ConfigMap, or list it in NOT_SET_BY_CHART with the reason")
    if values["database"]["mode"] == "postgres":
        core = next(d for n, d in deployments.items() if n.endswith("-identity-core"))
        url = container_variables(docs, core).get("IDENTITY_DATABASE_URL")
        if not isinstance(url, dict) or "secretKeyRef" not in url:
            fail(f"{name}: in postgres mode IDENTITY_DATABASE_URL must come from a secretKeyRef")


def check_settings_wiring() -> None:
    """Each settings value reaches its variable (non-default values, so a hard-coded default cannot pass)."""
    dev = load_values(CHART / "ci" / "sqlite-dev-values.yaml")
    print("- settings reach their processes")
    changes = {
        "identityCore.retentionIntervalSecs": (61, "identity-core", "IDENTITY_RETENTION_INTERVAL_SECS", "61"),
        "identityCore.writeBatchMax": (7, "identity-core", "IDENTITY_WRITE_BATCH_MAX", "7"),
        "identityCore.passwordHashing.memoryKib": (65536, "identity-core", "IDENTITY_PASSWORD_HASH_MEMORY_KIB", "65536"),
        "identityCore.passwordHashing.iterations": (3, "identity-core", "IDENTITY_PASSWORD_HASH_ITERATIONS", "3"),
        "identityCore.passwordHashing.concurrency": (0, "identity-core", "IDENTITY_PASSWORD_HASH_CONCURRENCY", "0"),
        "identityCore.oauth.accessTokenTtlSecs": (1800, "identity-core", "IDENTITY_OAUTH_ACCESS_TOKEN_TTL_SECS", "1800"),
        "identityCore.oauth.refreshTokenTtlSecs": (31536000, "identity-core", "IDENTITY_OAUTH_REFRESH_TOKEN_TTL_SECS", "31536000"),
        "identityCore.oauth.codeTtlSecs": (30, "identity-core", "IDENTITY_OAUTH_CODE_TTL_SECS", "30"),
        "identityCore.oauth.requestTtlSecs": (900, "identity-core", "IDENTITY_OAUTH_REQUEST_TTL_SECS", "900"),
        "identityCore.shutdownGraceSecs": (40, "identity-core", "IDENTITY_SHUTDOWN_GRACE_SECS", "40"),
        "identityCore.changeRetentionSecs": (2592000, "identity-core", "IDENTITY_CHANGE_RETENTION_SECS", "2592000"),
        "identityCore.maxDbConnections": (8, "identity-core", "IDENTITY_MAX_DB_CONNECTIONS", "8"),
        "scimEdge.baseUrl": ("https://scim.example.com/tenants/scim/v2", "scim-edge", "SCIM_EDGE_BASE_URL",
                             "https://scim.example.com/tenants/scim/v2"),
        "scimEdge.tokenCacheCapacity": (50000, "scim-edge", "SCIM_EDGE_TOKEN_CACHE_CAPACITY", "50000"),
        "scimEdge.refusedTokenCacheSecs": (0, "scim-edge", "SCIM_EDGE_REFUSED_TOKEN_CACHE_SECS", "0"),
        "scimEdge.maxBodyBytes": (8388608, "scim-edge", "SCIM_EDGE_MAX_BODY_BYTES", "8388608"),
        "scimEdge.requestTimeoutSecs": (12, "scim-edge", "SCIM_EDGE_REQUEST_TIMEOUT_SECS", "12"),
        "scimEdge.maxConcurrentRequests": (77, "scim-edge", "SCIM_EDGE_MAX_CONCURRENT_REQUESTS", "77"),
        "scimEdge.shutdownGraceSecs": (45, "scim-edge", "SCIM_EDGE_SHUTDOWN_GRACE_SECS", "45"),
        "scimEdge.connectTimeoutSecs": (2, "scim-edge", "SCIM_EDGE_CONNECT_TIMEOUT_SECS", "2"),
        "scimEdge.clientAddressHeader": ("x-forwarded-for", "scim-edge", "SCIM_EDGE_CLIENT_ADDRESS_HEADER", "x-forwarded-for"),
        "scimEdge.throttling.organization.requestsPerSecond": (500, "scim-edge", "SCIM_EDGE_ORG_REQUESTS_PER_SECOND", "500"),
        "scimEdge.throttling.organization.burst": (1000, "scim-edge", "SCIM_EDGE_ORG_BURST", "1000"),
        "scimEdge.throttling.organization.maxConcurrentRequests": (0, "scim-edge", "SCIM_EDGE_ORG_MAX_CONCURRENT_REQUESTS", "0"),
        "scimEdge.throttling.token.requestsPerSecond": (250, "scim-edge", "SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND", "250"),
        "scimEdge.throttling.token.burst": (300, "scim-edge", "SCIM_EDGE_TOKEN_BURST", "300"),
        "scimEdge.throttling.unauthenticated.requestsPerSecond": (0, "scim-edge", "SCIM_EDGE_UNAUTHENTICATED_REQUESTS_PER_SECOND", "0"),
        "scimEdge.throttling.unauthenticated.burst": (50, "scim-edge", "SCIM_EDGE_UNAUTHENTICATED_BURST", "50"),
        "scimEdge.throttling.heavyRequestSlots": (0, "scim-edge", "SCIM_EDGE_HEAVY_REQUEST_SLOTS", "0"),
        "scimEdge.throttling.heavyRequestCost": (25, "scim-edge", "SCIM_EDGE_HEAVY_REQUEST_COST", "25"),
        "scimEdge.throttling.holdIgnoredRetryAfterSecs": (0, "scim-edge", "SCIM_EDGE_HOLD_IGNORED_RETRY_AFTER_SECS", "0"),
    }
    docs = render(with_changes(dev, {path: change[0] for path, change in changes.items()}))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    seen = {process: container_variables(docs, next(d for n, d in deployments.items() if n.endswith(f"-{process}")))
            for process in ("identity-core", "scim-edge")}
    for path, (_, process, variable, expected) in changes.items():
        if seen[process].get(variable) != expected:
            fail(f"settings: {path} must give {process} {variable}={expected!r}, got {seen[process].get(variable)!r}")
    edge = next(d for n, d in deployments.items() if n.endswith("-scim-edge"))
    core = next(d for n, d in deployments.items() if n.endswith("-identity-core"))
    for deployment, grace in ((edge, 45), (core, 40)):
        if deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds") != grace + 10:
            fail(f"settings: {deployment['metadata']['name']} must get {grace} + 10 s to drain before SIGKILL")
    scim_test = next((d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"].endswith("-scim-edge-test")), None)
    base_path = {e["name"]: e.get("value") for e in scim_test["spec"]["containers"][0]["env"]}.get("SCIM_BASE_PATH") if scim_test else None
    if base_path != "/tenants/scim/v2":
        fail(f"settings: the SCIM test must call the base URL's path /tenants/scim/v2, not {base_path!r}")
    # unset, the optional ones are left to the process
    defaults = render(dev)
    deployments = {d["metadata"]["name"]: d for d in defaults if d["kind"] == "Deployment"}
    edge_seen = container_variables(defaults, next(d for n, d in deployments.items() if n.endswith("-scim-edge")))
    for variable in ("SCIM_EDGE_BASE_URL", "SCIM_EDGE_CLIENT_ADDRESS_HEADER", "SCIM_EDGE_HEAVY_REQUEST_SLOTS"):
        if variable in edge_seen:
            fail(f"settings: {variable} must be left to scim-edge's default when its value is not given")
    print(f"  ok {len(changes)} settings reach their variables; unset optional ones are left to the processes")


# --- generated Secrets ----------------------------------------------------------------------------

LOOKUP_PROBE = """{{- $live := dict "apiVersion" "v1" "kind" "Secret" "data" (dict "credential" "bGl2ZS1jcmVkZW50aWFsLXZhbHVl" "previous" "b2xkLWNyZWRlbnRpYWwtdmFsdWU=") }}
kept: {{ include "identity.generatedSecretData" (dict "existing" $live "key" "credential") | fromYaml | toJson | quote }}
added: {{ include "identity.generatedSecretData" (dict "existing" $live "key" "token") | fromYaml | toJson | quote }}
fresh: {{ include "identity.generatedSecretData" (dict "existing" (dict) "key" "token") | fromYaml | toJson | quote }}
"""


def check_generated_secrets() -> None:
    """A generated credential is read back on upgrade, and random where nothing can be read.

    Offline, `lookup` finds nothing, so the branch that reads the live Secret back is exercised on
    a copy of the chart with one more template, which hands the chart's helper a Secret as
    `lookup` returns it during `helm upgrade`.
    """
    print("- generated Secrets")
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / "identity"
        shutil.copytree(CHART, copy)
        (copy / "templates" / "zz-lookup-probe.yaml").write_text(LOOKUP_PROBE)
        probe = yaml.safe_load(render_files({}, copy)["identity/templates/zz-lookup-probe.yaml"])
    kept, added, fresh = (json.loads(probe[k]) for k in ("kept", "added", "fresh"))
    live = {"credential": "bGl2ZS1jcmVkZW50aWFsLXZhbHVl", "previous": "b2xkLWNyZWRlbnRpYWwtdmFsdWU="}
    if kept != live:
        fail(f"generated Secrets: an upgrade must keep the live Secret's data as it is, got {kept}")
    else:
        print("  ok an upgrade reads the live value back (and keeps the Secret's other keys)")
    if {k: v for k, v in added.items() if k != "token"} != live or \
            not re.fullmatch(r"[A-Za-z0-9]{48}", base64.b64decode(added.get("token", "")).decode()):
        fail(f"generated Secrets: a key missing from the live Secret must be generated, the rest kept: {added}")
    else:
        print("  ok a key missing from the live Secret is generated, the others kept")
    if set(fresh) != {"token"} or not re.fullmatch(r"[A-Za-z0-9]{48}", base64.b64decode(fresh["token"]).decode()):
        fail(f"generated Secrets: without a live Secret the value must be 48 random characters: {fresh}")
    # offline (helm template, a client dry run) every render draws a new value, as documented
    first, second = ({d["metadata"]["name"]: d["data"] for d in render({}) if d["kind"] == "Secret"} for _ in range(2))
    if not first or any(first[n] == second[n] for n in first):
        fail("generated Secrets: two offline renders must draw different values (lookup finds nothing there)")
    else:
        print(f"  ok offline renders draw new values: {', '.join(sorted(first))}")


def check_notes() -> None:
    """NOTES.txt names the Secret the credentials are read from, generated or given, and the CLI."""
    print("- NOTES.txt")
    dev = load_values(CHART / "ci" / "sqlite-dev-values.yaml")
    for label, values, secret, generated in (("defaults", {}, "identity-admin-bootstrap", True),
                                             ("sqlite-dev-values.yaml", dev, "identity-admin", False)):
        notes = render_files(values)["identity/templates/NOTES.txt"]
        problems = []
        if f"get secret {secret} " not in notes:
            problems.append(f"no `kubectl get secret {secret}` to read the bootstrap credential")
        if ("generated into Secret" in notes) != generated:
            problems.append("the credentials' mode (generated or your Secret) is wrong")
        if "identity-admin org create" not in notes or f"helm test {RELEASE}" not in notes:
            problems.append("the identity-admin commands or `helm test` are missing")
        for problem in problems:
            fail(f"NOTES.txt ({label}): {problem}")
        if not problems:
            print(f"  ok {label}: bootstrap credential read from Secret {secret}")


# --- `helm test` hooks ----------------------------------------------------------------------------

def check_test_hooks(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """The smoke test Pods call the core's and the edge's Services, and the test-only policies let them."""
    tests = [d for d in docs if is_test_hook(d)]
    if not values["tests"]["enabled"]:
        if tests:
            fail(f"{name}: tests.enabled=false must render no test hook")
        return
    before = len(failures)
    pods = {d["metadata"]["name"]: d for d in tests if d["kind"] == "Pod"}
    check_selftest_hook(name, pods, values)
    all_pods = dict(pods)
    pods = {n: d for n, d in pods.items() if not n.endswith("-selftest")}
    core_pod = next((d for n, d in pods.items() if n.endswith("-identity-core-test")), None)
    edge_pod = next((d for n, d in pods.items() if n.endswith("-scim-edge-test")), None)
    if core_pod is None or edge_pod is None or len(pods) != 2:
        fail(f"{name}: expected the identity-core and scim-edge test Pods, got {sorted(pods)}")
        return
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    core_service = next(s for n, s in services.items() if n.endswith("-identity-core"))
    edge_service = next(s for n, s in services.items() if n.endswith("-scim-edge"))
    grpc_port = values["identityCore"]["grpcPort"]
    edge_port = values["scimEdge"]["port"]
    images = values["tests"]["images"]
    for pod, image, target in ((core_pod, images["grpcurl"], f"{core_service['metadata']['name']}:{grpc_port}"),
                               (edge_pod, images["curl"],
                                f"{'https' if values['tls']['enabled'] else 'http'}://{edge_service['metadata']['name']}:{edge_port}")):
        label = f"{name}: Pod/{pod['metadata']['name']}"
        if pod["spec"].get("restartPolicy") != "Never":
            fail(f"{label}: a test Pod must not restart")
        container = pod["spec"]["containers"][0]
        want = f"{image['repository']}:{image['tag']}" + (f"@{image['digest']}" if image.get("digest") else "")
        if container["image"] != want:
            fail(f"{label}: image {container['image']!r}, expected the pinned {want!r}")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if target not in env.values():
            fail(f"{label}: must call {target}, its env is {env}")
        if "hook-succeeded" in pod["metadata"]["annotations"].get("helm.sh/hook-delete-policy", ""):
            fail(f"{label}: hook-succeeded would delete the Pod before `helm test --logs` reads it")
    # the identity.v1 test presents the edge credential, from the Secret the core and the edge mount
    edge_secret, edge_key = generated_secret_names(values)["edge"]
    volumes = [v for v in core_pod["spec"].get("volumes", []) if v.get("secret", {}).get("secretName") == edge_secret]
    if not volumes or {"key": edge_key, "path": "credential"} not in volumes[0]["secret"].get("items", []):
        fail(f"{name}: the identity.v1 test must mount key {edge_key} of Secret {edge_secret}")
    if values["networkPolicy"]["enabled"]:
        deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
        core_labels = pod_labels(next(d for n, d in deployments.items() if n.endswith("-identity-core")))
        edge_labels = pod_labels(next(d for n, d in deployments.items() if n.endswith("-scim-edge")))
        test_policies = [d for d in tests if d["kind"] == "NetworkPolicy"]
        pod_weight = min(int(p["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) for p in pods.values())
        for policy in test_policies:
            annotations = policy["metadata"]["annotations"]
            if int(annotations.get("helm.sh/hook-weight", "0")) >= pod_weight or \
                    "hook-succeeded" not in annotations.get("helm.sh/hook-delete-policy", ""):
                fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} must exist before the test Pods "
                     "(lower hook weight) and go once they passed (hook-succeeded)")
            if policy["spec"].get("policyTypes") != ["Ingress"]:
                fail(f"{name}: NetworkPolicy/{policy['metadata']['name']} must only add ingress")
        admin_port = values["identityCore"]["adminPort"]
        for pod in all_pods.values():
            labels = pod["metadata"]["labels"]
            for target_labels, port, what in ((core_labels, grpc_port, "the core's identity.v1 port"),
                                              (edge_labels, edge_port, "the edge's HTTP port")):
                peers = allowed_peers(docs, target_labels, "Ingress", port)
                if peers is not None and not any(peer_reaches(p, labels, NAMESPACE_LABELS) for p in peers):
                    fail(f"{name}: Pod/{pod['metadata']['name']} cannot reach {what} ({port}) during `helm test`")
            admin_peers = allowed_peers(docs, core_labels, "Ingress", admin_port)
            if admin_peers is None or any(peer_reaches(p, labels, NAMESPACE_LABELS) for p in admin_peers):
                fail(f"{name}: Pod/{pod['metadata']['name']} must not reach the core's admin port {admin_port}")
            if any(selector_matches({"matchLabels": s["spec"]["selector"]}, labels) for s in services.values() if s["spec"].get("selector")):
                fail(f"{name}: Pod/{pod['metadata']['name']} must not be selected by the release's Services")
    if len(failures) == before:
        exercised.setdefault("helm test hooks", set()).add(name)


def check_selftest_hook(name: str, pods: dict[str, Any], values: dict[str, Any]) -> None:
    """With a SCIM token Secret named, `identity-admin selftest` runs as a test against the edge."""
    selftest = values["tests"]["selftest"]
    found = [d for n, d in pods.items() if n.endswith("-selftest")]
    if not selftest["tokenSecret"]["name"]:
        if found:
            fail(f"{name}: no tests.selftest.tokenSecret, yet a self-test Pod rendered")
        return
    if len(found) != 1:
        fail(f"{name}: tests.selftest.tokenSecret is set: expected one self-test Pod, got {len(found)}")
        return
    pod = found[0]
    container = pod["spec"]["containers"][0]
    if container.get("command") != ["identity-admin"] or container.get("args", [None])[0] != "selftest":
        fail(f"{name}: the self-test Pod must run `identity-admin selftest`, runs {container.get('command')} {container.get('args')}")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    scheme = "https://" if values["tls"]["enabled"] else "http://"
    if not str(env.get("IDENTITY_SELFTEST_SCIM_URL", "")).startswith(scheme) or \
            "-scim-edge:" not in str(env.get("IDENTITY_SELFTEST_SCIM_URL", "")):
        fail(f"{name}: the self-test must call the edge's Service, its env is {env}")
    secret = selftest["tokenSecret"]
    mounted = [v for v in pod["spec"].get("volumes", []) if v.get("secret", {}).get("secretName") == secret["name"]]
    if not mounted or {"key": secret["key"], "path": "token"} not in mounted[0]["secret"].get("items", []):
        fail(f"{name}: the self-test must mount key {secret['key']} of Secret {secret['name']}")
    exercised.setdefault("helm test self-test", set()).add(name)


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
    if doc["kind"] == "Pod":
        return doc["metadata"].get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def check_network_policies(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """What install and upgrade leave running; the `helm test` hooks are checked on their own."""
    docs = [d for d in docs if not is_test_hook(d)]
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


CERTIFICATE_SPEC_KEYS = {"secretName", "duration", "renewBefore", "privateKey", "usages", "dnsNames",
                         "commonName", "issuerRef", "ipAddresses", "uris", "subject", "secretTemplate"}
CERTIFICATE_USAGES = {"server auth", "client auth", "digital signature", "key encipherment"}


def check_certificate_shape(doc: dict[str, Any]) -> list[str]:
    """What the cert-manager.io/v1 Certificate CRD would refuse, for the fields the chart renders."""
    problems = []
    if set(doc) - {"apiVersion", "kind", "metadata", "spec", "__source"}:
        problems.append(f"unknown top-level fields {sorted(set(doc) - {'apiVersion', 'kind', 'metadata', 'spec', '__source'})}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return problems + ["no spec"]
    if set(spec) - CERTIFICATE_SPEC_KEYS:
        problems.append(f"unknown spec fields {sorted(set(spec) - CERTIFICATE_SPEC_KEYS)}")
    if not isinstance(spec.get("secretName"), str) or not spec["secretName"]:
        problems.append("spec.secretName must name the Secret")
    issuer = spec.get("issuerRef") or {}
    if not issuer.get("name") or issuer.get("kind") not in ("Issuer", "ClusterIssuer"):
        problems.append(f"spec.issuerRef must name an Issuer or ClusterIssuer: {issuer}")
    names = spec.get("dnsNames") or []
    if not names or not all(isinstance(n, str) and n for n in names):
        problems.append("spec.dnsNames must be a non-empty list of names")
    if set(spec.get("usages") or []) - CERTIFICATE_USAGES:
        problems.append(f"unknown usages {spec['usages']}")
    for key in ("duration", "renewBefore"):
        if key in spec and not DURATION.match(str(spec[key])):
            problems.append(f"spec.{key} {spec[key]!r} is not a duration")
    return problems


# apiVersion -> kind -> shape check; these are never handed to kubernetes-validate
CUSTOM_RESOURCES = {
    "monitoring.coreos.com/v1": {"ServiceMonitor": check_service_monitor_shape},
    "cert-manager.io/v1": {"Certificate": check_certificate_shape},
}


def check_tls(name: str, docs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """tls.enabled: both processes get their files from whole-Secret mounts, probes that work over TLS,
    https endpoints; cert-manager's Certificates fill exactly the Secrets mounted. Off: none of it."""
    tls = values["tls"]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    certificates = {d["spec"]["secretName"]: d for d in docs if d["kind"] == "Certificate"}
    before = len(failures)
    for process, variables in TLS_VARIABLES.items():
        deployment = next(d for n, d in deployments.items() if n.endswith(f"-{process}"))
        seen = container_variables(docs, deployment)
        if not tls["enabled"]:
            if set(variables) & set(seen) or certificates:
                fail(f"{name}: tls.enabled=false, yet {process} gets TLS settings or Certificates render")
            continue
        for variable, expected in variables.items():
            if variable not in seen or (expected is not None and seen[variable] != expected):
                fail(f"{name}: {process}: {variable} is {seen.get(variable)!r}, expected {expected or 'a value'}")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        for volume in pod["volumes"]:
            secret = volume.get("secret", {}).get("secretName")
            mount = mounts.get(volume["name"], {})
            if not str(mount.get("mountPath", "")).startswith("/var/run/secrets/identity/") or "tls" not in volume["name"]:
                continue
            if "subPath" in mount or volume["secret"].get("items"):
                fail(f"{name}: {process}: TLS volume {volume['name']} must mount the whole Secret (renewals never reach a subPath)")
            if tls["certManager"]["enabled"] and secret not in certificates:
                fail(f"{name}: {process}: mounts Secret {secret}, which no Certificate fills ({sorted(certificates)})")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if "grpc" in container.get(probe, {}):
                fail(f"{name}: {process}: {probe} is a gRPC probe, which cannot speak TLS")
            scheme = container.get(probe, {}).get("httpGet", {}).get("scheme", "HTTP")
            if process == "scim-edge" and probe in container and scheme != "HTTPS":
                fail(f"{name}: scim-edge {probe} must use HTTPS")
    if tls["enabled"]:
        edge = next(d for n, d in deployments.items() if n.endswith("-scim-edge"))
        if not str(container_variables(docs, edge).get("SCIM_EDGE_CORE_ENDPOINT", "")).startswith("https://"):
            fail(f"{name}: with TLS the edge must call the core over https://")
        if tls["certManager"]["enabled"]:
            client = [c for c in certificates.values() if c["spec"].get("usages") == ["client auth"]]
            if len(certificates) != 3 or len(client) != 1 or client[0]["spec"].get("commonName") != tls["clientName"]:
                fail(f"{name}: expected the core's and the edge's server Certificates and the edge's client "
                     f"Certificate for {tls['clientName']!r}, got {sorted(certificates)}")
    if tls["enabled"] and len(failures) == before:
        exercised.setdefault("TLS (cert-manager)" if tls["certManager"]["enabled"] else "TLS (existing Secrets)", set()).add(name)


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


def check_case(name: str, values: dict[str, Any]) -> None:
    print(f"- {name}")
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
    effective = merged_values(values)
    check_policies(name, docs, effective)
    check_settings(name, docs, effective)
    check_network_policies(name, docs, effective)
    check_test_hooks(name, docs, effective)
    check_service_monitor(name, docs, effective)
    check_core_scaling(name, docs, effective)
    check_tls(name, docs, effective)


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
        ("unknown key, defaults only", {}, {"edgeCredential": {"name": "identity-edge"}}, "edgeCredential"),
        ("unknown top-level key", dev, {"replicaCount": 2}, "replicaCount"),
        ("unknown throttling key", prod, {"scimEdge.throttling.organisation": {"burst": 10}}, "organisation"),
        ("unknown tests key", dev, {"tests.image": "curlimages/curl"}, "image"),
        ("previous edge key is the current one", prod, {"edgeCredentialSecret.previousKey": "credential"},
         "edgeCredentialSecret.previousKey"),
        ("admin and edge credential in one key", prod,
         {"admin.bootstrapTokenSecret.name": "identity-edge", "admin.bootstrapTokenSecret.key": "credential"},
         "must be different secrets"),
        ("generated admin and edge Secrets on one key", {}, {"edgeCredentialSecret.name": "identity-admin-bootstrap",
                                                             "edgeCredentialSecret.key": "token"}, "must be different secrets"),
        ("Secret key with a slash", dev, {"edgeCredentialSecret.key": "edge/credential"}, "key"),
        ("body limit above 8 MiB", dev, {"scimEdge.maxBodyBytes": 16777216}, "maxBodyBytes"),
        ("no concurrent SCIM request", dev, {"scimEdge.maxConcurrentRequests": 0}, "maxConcurrentRequests"),
        ("negative heavy-request slots", dev, {"scimEdge.throttling.heavyRequestSlots": -1}, "heavyRequestSlots"),
        ("rate as a string", dev, {"scimEdge.throttling.token.requestsPerSecond": "100/s"}, "requestsPerSecond"),
        ("OAuth code lifetime of zero", dev, {"identityCore.oauth.codeTtlSecs": 0}, "codeTtlSecs"),
        ("write batch of zero", prod, {"identityCore.writeBatchMax": 0}, "writeBatchMax"),
        ("client address header with a space", dev, {"scimEdge.clientAddressHeader": "X Forwarded For"}, "clientAddressHeader"),
        ("test image digest not sha256", dev, {"tests.images.curl.digest": "latest"}, "digest"),
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
        ("TLS without certificates", dev, {"tls.enabled": True}, "tls.enabled needs certificates"),
        ("TLS with only some Secrets", prod, {"tls.edgeClientSecret": ""}, "tls.edgeClientSecret"),
        ("cert-manager without an issuer", dev, {"tls.enabled": True, "tls.certManager.enabled": True},
         "tls.certManager.issuerRef.name"),
        ("client certificates without TLS", dev, {"tls.clientCertificateRequired": True}, "need tls.enabled=true"),
        ("unknown issuer kind", dev, {"tls.enabled": True, "tls.certManager.enabled": True,
                                      "tls.certManager.issuerRef": {"name": "ca", "kind": "Vault", "group": "cert-manager.io"}},
         "kind"),
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
    # what `helm install identity ./helm/identity` renders: no values file at all
    check_case(DEFAULTS, {})
    for path in files:
        check_case(path.name, load_values(path))
    check_refusals()
    check_edge_credential_rotation()
    check_settings_wiring()
    check_generated_secrets()
    check_notes()
    # the ci values files must keep exercising what the chart promises
    print("- coverage")
    required = {
        "generated Secrets": DEFAULTS,
        "existing Secrets": "postgres-prod-values.yaml",
        "helm test hooks": DEFAULTS,
        "helm test self-test": "postgres-prod-values.yaml",
        "core grpc port limited to edge + client namespaces": DEFAULTS,
        "identityClientNamespaces": "postgres-prod-values.yaml",
        "edge egress without the database": None,
        "migration Job reaches the database": "postgres-prod-values.yaml",
        "ServiceMonitor": "postgres-prod-values.yaml",
        "core HPA (postgres)": "postgres-prod-values.yaml",
        "TLS (cert-manager)": "tls-cert-manager-values.yaml",
        "TLS (existing Secrets)": None,
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
    print(f"chart check: the defaults and {len(files)} values files rendered and validated, refusals checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
