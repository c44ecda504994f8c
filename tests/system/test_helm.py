"""The Helm chart in deploy/helm/campaign-exporter, linted and rendered by Helm v4's own Go
SDK (helm-python-sdk binds it; no helm binary, no cluster): what each set of values makes,
and that the rules and dashboards in it are the repository's generated files."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from ..helpers import kustomize, manifest_generator, run_cli

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy" / "helm" / "campaign-exporter"
SELECTOR = {"app.kubernetes.io/name": "campaign-exporter", "app.kubernetes.io/instance": "ce"}
POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sharded": {"shards": 3},
    "ha-pair": {"replicas": 2},
    "sharded-ha": {"shards": 3, "replicas": 2, "antiAffinity": "hard"},
    "network-policy": {"networkPolicy": {"enabled": True}},
    "persistence": {"persistence": {"enabled": True, "size": "5Gi"}},
    "no-persistence": {"persistence": {"enabled": False}},
    "credentials": {"credentials": {"experiture-token": "tok-123", "ga-key": "key-456"}},
    "nothing-optional": {
        "serviceMonitor": {"enabled": False},
        "prometheusRule": {"enabled": False},
        "dashboards": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "existingConfigMap": "my-config",
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's objects for these values, as an install of release "ce" makes them."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name="ce", namespace="monitoring")
    return [
        doc
        for path, text in sorted(manifests.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def kinds(docs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
    return counts


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [found] = workload["spec"]["template"]["spec"]["containers"]
    return dict(found)


def test_the_sdk_is_helm_v4() -> None:
    assert helm.helm_sdk_version().startswith("v4.")


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_chart_lints_clean_in_strict_mode(values: dict[str, Any]) -> None:
    """Helm's lint renders every template with these values and checks the YAML and the
    schema; strict turns warnings into errors. The one note left: no icon."""
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"] == []
    assert [(m["severity"], m["error"]) for m in report["messages"]] == [(1, "icon is recommended")]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"shards": 0}, "at '/shards': minimum: got 0, want 1"),
        ({"replicas": "2"}, "at '/replicas': got string, want integer"),
        ({"antiAffinity": "maybe"}, "at '/antiAffinity': value must be one of '', 'soft', 'hard'"),
        ({"persistence": {"size": "big"}}, "at '/persistence/size': 'big' does not match"),
        (  # NFS and other shared file volumes: SQLite's WAL needs a local filesystem
            {"persistence": {"accessModes": ["ReadWriteMany"]}},
            "at '/persistence/accessModes/0': value must be one of 'ReadWriteOnce', "
            "'ReadWriteOncePod'",
        ),
        ({"credentials": {"../x": "s"}}, "invalid propertyName '../x'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(problem)):
        render(values)
    assert any(problem in error for error in helm.lint(CHART, values)["errors"])


def test_defaults_make_a_hardened_statefulset_with_its_monitoring() -> None:
    docs = render({})
    assert kinds(docs) == {
        "ConfigMap": 2,  # the config, the dashboards
        "StatefulSet": 1,  # persistence: a claim for the books
        "Service": 1,
        "ServiceMonitor": 1,
        "PrometheusRule": 1,
        "PodDisruptionBudget": 1,
    }
    statefulset = only(docs, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 1
    assert statefulset["spec"]["selector"]["matchLabels"] == SELECTOR
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert "affinity" not in pod
    main = container(statefulset)
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert main["args"] == [
        "--config.file=/etc/campaign-exporter/config/config.yml",
        "--web.listen-address=:10123",
        "--log.format=json",
        "--storage.path=/var/lib/campaign-exporter",
    ]
    assert main["ports"] == [{"name": "http", "containerPort": 10123, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    # the config as a directory, never a subPath (Kubernetes does not update a subPath)
    assert main["volumeMounts"] == [
        {"name": "config", "mountPath": "/etc/campaign-exporter/config", "readOnly": True},
        {"name": "data", "mountPath": "/var/lib/campaign-exporter"},
    ]
    assert pod["volumes"] == [
        {"name": "config", "configMap": {"name": "ce-campaign-exporter-config"}}
    ]
    [config] = [d for d in docs if d["metadata"]["name"] == "ce-campaign-exporter-config"]
    sources = yaml.safe_load(config["data"]["config.yml"])["sources"]
    assert [(s["name"], s["type"]) for s in sources] == [
        ("prod", "experiture"),
        ("ga", "greenarrow"),
    ]
    service = only(docs, "Service")
    assert service["spec"]["selector"] == SELECTOR
    assert service["spec"]["ports"][0]["port"] == 10123
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}


def test_the_service_monitor_scrapes_as_the_job_the_rules_select() -> None:
    """The ServiceMonitor's job label comes from the Service's app.kubernetes.io/name: the
    release's name never changes the job="campaign-exporter" every shipped rule reads."""
    docs = render({})
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert monitor["spec"]["selector"]["matchLabels"] == SELECTOR
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "20s"}
    ]
    assert only(docs, "Service")["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "campaign-exporter"
    )
    rule = only(docs, "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all('job="campaign-exporter"' in e for e in exprs)


def test_the_rules_and_dashboards_are_the_generated_files() -> None:
    """The chart's copies in files/ are deploy/kubernetes/generate.py's (a test there
    compares), and what the chart renders from them is the repository's rules and
    dashboards, whole."""
    gen = manifest_generator()
    copies = gen.chart_copies()
    assert set((CHART / "files").rglob("*.*")) == set(copies)
    for copy, source in copies.items():
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy.name} is stale: run python deploy/kubernetes/generate.py"
        )
    docs = render({})
    groups = []
    for name in ("alerts.yml", "rules.yml"):
        groups += yaml.safe_load((ROOT / "prometheus" / name).read_text())["groups"]
    assert only(docs, "PrometheusRule")["spec"]["groups"] == groups
    assert {r.get("alert") for g in groups for r in g["rules"]} >= {
        "CampaignExporterDown",
        "CampaignExporterShardMissing",
    }
    [boards] = [d for d in docs if d["metadata"]["name"] == "ce-campaign-exporter-dashboards"]
    assert boards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert boards["metadata"]["annotations"] == {"grafana_folder": "Campaigns"}
    files = {
        p.name: json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards").glob("*.json")
    }
    assert len(files) == 4
    assert {k: json.loads(v) for k, v in boards["data"].items()} == files


def test_shards_are_a_statefulset_whose_pod_index_is_the_shard() -> None:
    docs = render({"shards": 3})
    assert "Deployment" not in kinds(docs)
    statefulset = only(docs, "StatefulSet")
    assert statefulset["metadata"]["name"] == "ce-campaign-exporter"
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert statefulset["spec"]["selector"]["matchLabels"] == SELECTOR
    main = container(statefulset)
    assert main["args"][-2:] == ["--shard=$(SHARD)", "--total-shards=3"]
    assert main["env"] == [{"name": "SHARD", "valueFrom": {"fieldRef": {"fieldPath": POD_INDEX}}}]
    assert [c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]] == [
        "data"
    ]  # each shard's books its own
    assert "affinity" not in statefulset["spec"]["template"]["spec"]  # one replica a shard
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert only(docs, "Service")["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        ("soft", "preferredDuringSchedulingIgnoredDuringExecution"),
        ("hard", "requiredDuringSchedulingIgnoredDuringExecution"),
    ],
)
def test_an_ha_pair_is_kept_on_two_nodes(mode: str, key: str) -> None:
    docs = render({"replicas": 2, "antiAffinity": mode})
    statefulset = only(docs, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 2
    anti = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert list(anti) == [key]
    term = {"labelSelector": {"matchLabels": SELECTOR}, "topologyKey": "kubernetes.io/hostname"}
    if mode == "soft":
        assert anti[key] == [{"weight": 100, "podAffinityTerm": term}]
    else:
        assert anti[key] == [term]
    assert only(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_anti_affinity_can_be_turned_off() -> None:
    statefulset = only(render({"replicas": 2, "antiAffinity": ""}), "StatefulSet")
    assert "affinity" not in statefulset["spec"]["template"]["spec"]


def test_sharded_ha_pairs_are_two_statefulsets_whose_same_shards_repel() -> None:
    """Two replicas of each of 3 shards: two StatefulSets of 3 (each pod index a shard),
    apart by their own selector, one Service and budget over all six, and the two
    replicas of a shard (the same pod index) on different nodes."""
    docs = render({"shards": 3, "replicas": 2, "antiAffinity": "hard"})
    statefulsets = [d for d in docs if d["kind"] == "StatefulSet"]
    assert [s["metadata"]["name"] for s in statefulsets] == [
        "ce-campaign-exporter-r0",
        "ce-campaign-exporter-r1",
    ]
    selectors = [s["spec"]["selector"]["matchLabels"] for s in statefulsets]
    assert selectors == [
        {**SELECTOR, "campaign-exporter/copy": "r0"},
        {**SELECTOR, "campaign-exporter/copy": "r1"},
    ]
    for statefulset, selector in zip(statefulsets, selectors, strict=True):
        assert statefulset["spec"]["replicas"] == 3
        labels = statefulset["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert only(docs, "Service")["spec"]["selector"].items() <= labels.items()
        assert "--total-shards=3" in container(statefulset)["args"]
        anti = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        assert anti["requiredDuringSchedulingIgnoredDuringExecution"] == [
            {
                "labelSelector": {"matchLabels": SELECTOR},
                "matchLabelKeys": ["apps.kubernetes.io/pod-index"],
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    assert only(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == SELECTOR


def test_the_network_policy_admits_scrapes_dns_and_the_apis_only() -> None:
    assert "NetworkPolicy" not in kinds(render({}))
    policy = only(render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")["spec"]
    assert policy["podSelector"] == {"matchLabels": SELECTOR}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [
                {
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ],
        }
    ]
    assert policy["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
    ]
    narrowed = only(
        render(
            {
                "networkPolicy": {
                    "enabled": True,
                    "egressTo": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
                    "egressPorts": [443, 8443],
                    "extraEgress": [{"ports": [{"port": 3128, "protocol": "TCP"}]}],
                }
            }
        ),
        "NetworkPolicy",
    )["spec"]["egress"]
    assert narrowed[1:] == [
        {
            "ports": [{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
        },
        {"ports": [{"port": 3128, "protocol": "TCP"}]},
    ]


@pytest.mark.parametrize(
    ("values", "statefulsets", "pods"),
    [
        ({}, ["ce-campaign-exporter"], 1),
        ({"replicas": 2}, ["ce-campaign-exporter"], 2),
        ({"shards": 3}, ["ce-campaign-exporter"], 3),
        ({"shards": 3, "replicas": 2}, ["ce-campaign-exporter-r0", "ce-campaign-exporter-r1"], 3),
    ],
    ids=["defaults", "ha-pair", "sharded", "sharded-ha"],
)
def test_the_books_are_on_a_claim_per_pod_that_outlives_deploys_and_drains(
    values: dict[str, Any], statefulsets: list[str], pods: int
) -> None:
    """StatefulSets' volumeClaimTemplates, not a Deployment's one claim: every pod (each
    replica of a pair, each shard) has its own ReadWriteOnce volume, which follows it to
    another node and is never mounted by two of its pods at once (a rollout replaces one
    pod at a time, deleting the old first); the exporter's group owns it (fsGroup)."""
    docs = render(values)
    assert "Deployment" not in kinds(docs)
    found = [d for d in docs if d["kind"] == "StatefulSet"]
    assert [d["metadata"]["name"] for d in found] == statefulsets
    for statefulset in found:
        spec = statefulset["spec"]
        assert spec["replicas"] == pods
        [claim] = spec["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"] == {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        }
        assert spec.get("updateStrategy", {}).get("type", "RollingUpdate") == "RollingUpdate"
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["fsGroup"] == 10001
        assert "data" not in {v["name"] for v in pod["volumes"]}  # the claim, no emptyDir
        main = container(statefulset)
        assert "--storage.path=/var/lib/campaign-exporter" in main["args"]
        assert {"name": "data", "mountPath": "/var/lib/campaign-exporter"} in main["volumeMounts"]
        # the root filesystem stays read-only: the claim is where it writes
        assert main["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_chart_and_the_kustomize_base_keep_the_books_alike() -> None:
    """The same claim, mount, flag and owner: docs/helm.md says the defaults are the
    base's."""
    chart = only(render({}), "StatefulSet")
    [base] = [d for d in kustomize("base") if d["kind"] == "StatefulSet"]
    for key in ("accessModes", "resources"):
        assert (
            chart["spec"]["volumeClaimTemplates"][0]["spec"][key]
            == base["spec"]["volumeClaimTemplates"][0]["spec"][key]
        )
    chart_pod, base_pod = (w["spec"]["template"]["spec"] for w in (chart, base))
    for key in ("fsGroup", "fsGroupChangePolicy", "runAsUser", "runAsGroup"):
        assert chart_pod["securityContext"][key] == base_pod["securityContext"][key]
    for workload in (chart, base):
        main = container(workload)
        assert "--storage.path=/var/lib/campaign-exporter" in main["args"]
        assert {"name": "data", "mountPath": "/var/lib/campaign-exporter"} in main["volumeMounts"]


def test_persistence_values_set_the_claim() -> None:
    docs = render({"persistence": {"enabled": True, "size": "5Gi", "storageClassName": "fast"}})
    [claim] = only(docs, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast",
        "resources": {"requests": {"storage": "5Gi"}},
    }
    # "-": no class at all (a pre-provisioned volume); unset: the cluster's default
    no_class = render({"persistence": {"storageClassName": "-"}})
    [claim] = only(no_class, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == ""
    one_pod = render({"persistence": {"accessModes": ["ReadWriteOncePod"]}})
    [claim] = only(one_pod, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOncePod"]


def test_without_persistence_the_books_survive_container_restarts_only() -> None:
    """persistence.enabled false: a Deployment (a StatefulSet when sharded) whose books are
    on an emptyDir, kept while the pod lives; still --storage.path, never a claim."""
    docs = render({"persistence": {"enabled": False}})
    assert "PersistentVolumeClaim" not in kinds(docs)
    deployment = only(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]
    main = container(deployment)
    assert "--storage.path=/var/lib/campaign-exporter" in main["args"]
    assert {"name": "data", "mountPath": "/var/lib/campaign-exporter"} in main["volumeMounts"]
    sharded = only(render({"persistence": {"enabled": False}, "shards": 3}), "StatefulSet")
    assert "volumeClaimTemplates" not in sharded["spec"]
    assert {"name": "data", "emptyDir": {}} in sharded["spec"]["template"]["spec"]["volumes"]


def test_credentials_are_files_of_a_secret_and_nowhere_else() -> None:
    docs = render({"credentials": {"experiture-token": "tok-123", "ga-key": "key-456"}})
    secret = only(docs, "Secret")
    assert secret["metadata"]["name"] == "ce-campaign-exporter-credentials"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "experiture-token": "tok-123",
        "ga-key": "key-456",
    }
    statefulset = only(docs, "StatefulSet")
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "credentials",
        "secret": {"secretName": "ce-campaign-exporter-credentials", "defaultMode": 0o440},
    } in volumes
    assert {
        "name": "credentials",
        "mountPath": "/etc/campaign-exporter/secrets",
        "readOnly": True,
    } in container(statefulset)["volumeMounts"]
    assert "env" not in container(statefulset)
    others = yaml.safe_dump([d for d in docs if d["kind"] != "Secret"])
    assert "tok-123" not in others and "key-456" not in others
    # a Secret of your own: none rendered, that one mounted
    docs = render({"existingSecret": "vendor-keys"})
    assert "Secret" not in kinds(docs)
    volumes = only(docs, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "credentials",
        "secret": {"secretName": "vendor-keys", "defaultMode": 0o440},
    } in (volumes)


def test_a_config_given_as_text_is_kept_as_written() -> None:
    text = "# ours\nsources:\n  - name: prod  # the main account\n    type: experiture\n"
    docs = render({"config": text})
    [config] = [d for d in docs if d["metadata"]["name"] == "ce-campaign-exporter-config"]
    assert config["data"]["config.yml"] == text
    docs = render({"existingConfigMap": "my-config"})
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"] == [
        "ce-campaign-exporter-dashboards"
    ]
    volumes = only(docs, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "config", "configMap": {"name": "my-config"}}]


@pytest.mark.parametrize(
    "values",
    [{}, {"shards": 3}, {"persistence": {"enabled": False}}],
    ids=["defaults", "sharded", "no-persistence"],
)
def test_the_rendered_flags_and_config_pass_the_exporters_own_check(
    tmp_path: Path, values: dict[str, Any]
) -> None:
    """The chart's args, as Kubernetes expands them ($(SHARD): pod 2), are flags the
    exporter knows, and its ConfigMap a config it accepts: campaign-exporter
    --config.check on them, the config and the books' directory moved into tmp_path and
    its secret files written."""
    token, key = tmp_path / "experiture-token", tmp_path / "ga-key"
    token.write_text("tok-123")
    key.write_text("key-456")
    config = {
        "sources": [
            {
                "name": "prod",
                "type": "experiture",
                "authorization": {"credentials_file": str(token)},
            },
            {
                "name": "ga",
                "type": "greenarrow",
                "base_url": "https://ga.example.com",
                "basic_auth": {"username": "1", "password_file": str(key)},
            },
        ]
    }
    docs = render({**values, "config": config})
    [rendered] = [d for d in docs if d["metadata"]["name"] == "ce-campaign-exporter-config"]
    config_file = tmp_path / "config.yml"
    config_file.write_text(rendered["data"]["config.yml"])
    workload = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))
    args = [
        f"--config.file={config_file}" if a.startswith("--config.file=") else a
        for a in container(workload)["args"]
    ]
    args = [
        f"--storage.path={tmp_path}/books" if a.startswith("--storage.path=") else a for a in args
    ]
    assert f"--storage.path={tmp_path}/books" in args
    args = [a.replace("$(SHARD)", "2") for a in args]
    result = run_cli(*args, "--config.check")
    assert result.returncode == 0, result.stderr


def test_the_install_notes_say_where_the_books_are() -> None:
    def notes(values: dict[str, Any]) -> str:
        with helm.Chart.load(CHART) as chart:
            manifests = chart.render(values, name="ce", namespace="monitoring")
        [text] = [t for path, t in manifests.items() if path.endswith("NOTES.txt")]
        return str(text)

    assert "PersistentVolumeClaim per pod (data-<pod>)" in notes({})
    assert "delete those claims yourself" in notes({})
    assert "books are on an emptyDir, lost with the pod" in notes(
        {"persistence": {"enabled": False}}
    )
