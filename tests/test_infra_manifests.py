"""manifests/ is what the program renders, and every object in it is valid for its API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from infra_pulumi.render import read_manifests
from scripts.render_manifests import rendered
from tests.infra_fixtures import CRDS, ROOT

MANIFESTS = ROOT / "manifests"
KUBERNETES_VERSION = "1.33.0"
# Custom resources checked by structure here (no schema is shipped for them).
CUSTOM_KINDS = {"Gateway", "VirtualService", "Certificate", "ServiceMonitor", "PodMonitor"}


def _documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(MANIFESTS.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _knative_schema() -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / "knative-serving-service.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_manifests_are_not_stale() -> None:
    assert read_manifests(MANIFESTS) == rendered(), "run scripts/render_manifests.py"


def test_no_secret_object_or_value_in_manifests() -> None:
    docs = _documents()
    assert "Secret" not in {doc["kind"] for doc in docs}
    text = "".join(p.read_text() for p in MANIFESTS.rglob("*.yaml"))
    assert "placeholder-not-rendered" not in text


@pytest.mark.parametrize("doc", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_object_validates(doc: dict[str, Any]) -> None:
    if doc["apiVersion"] == "serving.knative.dev/v1":
        jsonschema.validate(doc, _knative_schema())
    elif doc["kind"] in CUSTOM_KINDS:
        assert doc["spec"]
        assert doc["metadata"]["namespace"]
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_knative_schema_rejects_a_broken_service() -> None:
    broken = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containerConcurrency": "many"}}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _knative_schema())


def test_gpu_flavour_differs_only_in_processing() -> None:
    files = {Path(name).parent.name for name in read_manifests(MANIFESTS)}
    assert {"cpu", "gpu"} <= files
    cpu, gpu = ((MANIFESTS / f / "40-processing.yaml").read_text() for f in ("cpu", "gpu"))
    # The worker builds the Jobs: PROCESSING_GPU is the one switch between the two flavours.
    switch = "- name: PROCESSING_GPU\n          value: '{}'\n"
    assert switch.format("false") in cpu
    assert gpu == cpu.replace(switch.format("false"), switch.format("true"))
