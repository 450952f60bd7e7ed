#!/usr/bin/env python3
"""Derive the protobuf field table of the built-in Kubernetes types.

Typed client-go clients (kubectl create/auth/token, controllers) send request bodies as
Kubernetes protobuf (`k8s\\0` + runtime.Unknown). The emulator decodes them with a generic
wire-format reader driven by this table: for each message, field number -> JSON name, wire
kind and message type. Field numbers and kinds come from k8s-pb's prost attributes; JSON
names come from k8s-openapi (both crates derive snake_case names from the same Go names).

Usage: tools/gen-protobuf-fields.py <k8s-pb src> <k8s-openapi src/v1_NN> > e2e/sim/src/apis/builtin/protobuf.json
"""
import json
import os
import re
import sys

ROOTS = [
    "io.k8s.api.core.v1." + k
    for k in "ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolumeClaim PersistentVolume Pod PodTemplate ReplicationController ResourceQuota Secret ServiceAccount Service Binding".split()
] + [
    "io.k8s.api.apps.v1." + k for k in "ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet".split()
] + [
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.batch.v1.Job",
    "io.k8s.api.networking.v1.IngressClass",
    "io.k8s.api.networking.v1.Ingress",
    "io.k8s.api.networking.v1.NetworkPolicy",
    "io.k8s.api.policy.v1.PodDisruptionBudget",
    "io.k8s.api.policy.v1.Eviction",
    "io.k8s.api.storage.v1.StorageClass",
    "io.k8s.api.scheduling.v1.PriorityClass",
    "io.k8s.api.coordination.v1.Lease",
    "io.k8s.api.discovery.v1.EndpointSlice",
    "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
    "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
    "io.k8s.api.authentication.v1.TokenRequest",
    "io.k8s.api.authentication.v1.TokenReview",
    "io.k8s.api.authentication.v1.SelfSubjectReview",
    "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    "io.k8s.api.authorization.v1.SelfSubjectRulesReview",
    "io.k8s.api.authorization.v1.SubjectAccessReview",
    "io.k8s.api.authorization.v1.LocalSubjectAccessReview",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
] + [
    "io.k8s.api.rbac.v1." + k for k in "ClusterRoleBinding ClusterRole RoleBinding Role".split()
]


# JSON names the crates' naming cannot match up
JSON_OVERRIDES = {("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps", "ref"): "$ref"}


def def_name(mod_path):
    parts = [p.replace("_", "-") if p in ("apiextensions_apiserver", "kube_aggregator") else p for p in mod_path]
    return "io.k8s." + ".".join(parts)


def resolve(ty, mod_path):
    ty = ty.strip()
    for wrap in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while ty.startswith(wrap):
            ty = ty[len(wrap):-1].strip()
    parts = ty.split("::")
    path = list(mod_path)
    while parts and parts[0] == "super":
        path.pop()
        parts.pop(0)
    return def_name(path + parts[:-1]) + "." + parts[-1]


def camel(rust):
    rust = rust.rstrip("_")
    head, *rest = rust.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def openapi_json_names(root):
    names = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            src = open(os.path.join(dirpath, f), encoding="utf-8").read()
            m = re.search(r'fn schema_name\(\)[^{]*\{\s*"([^"]+)"', src)
            if m:
                # matched case- and underscore-insensitively: the crates split acronyms
                # differently (open_api_v3_schema vs open_apiv3_schema)
                names[m.group(1).lower()] = (
                    m.group(1),
                    {r.replace("_", ""): j for j, r in re.findall(r'"([^"]+)" => Field::Key_(\w+)', src)},
                )
    return names


FIELD = re.compile(r"#\[prost\(([^]]*)\)\]\s*pub (r#)?(\w+):\s*(.*?),\n\s*(?=///|#\[|$)", re.S)


def main(pb_root, openapi_root):
    json_names = openapi_json_names(openapi_root)

    def canonical(n):
        return json_names.get(n.lower(), (n, {}))[0]

    messages = {}
    for dirpath, _, files in os.walk(pb_root):
        if "mod.rs" not in files:
            continue
        rel = os.path.relpath(dirpath, pb_root)
        mod_path = [] if rel == "." else rel.split(os.sep)
        src = open(os.path.join(dirpath, "mod.rs"), encoding="utf-8").read()
        for sm in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", src, re.S):
            name = canonical(def_name(mod_path) + "." + sm.group(1))
            names = json_names.get(name.lower(), (name, {}))[1]
            fields = []
            for fm in FIELD.finditer(sm.group(2) + "\n"):
                attrs, rust, ty = fm.group(1), fm.group(3), " ".join(fm.group(4).split())
                tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
                map_m = re.match(r'\s*btree_map = "([^"]+)"', attrs)
                kind = "btree_map" if map_m else attrs.split(",")[0].strip()
                repeated = "repeated" in attrs
                json_name = JSON_OVERRIDES.get((name, rust)) or names.get(rust.replace("_", ""), camel(rust))
                entry = {"n": tag, "json": json_name, "repeated": repeated}
                if kind == "message":
                    entry["kind"] = "message"
                    entry["type"] = canonical(resolve(ty, mod_path))
                elif kind.startswith("btree_map"):
                    k, v = [x.strip() for x in map_m.group(1).split(",")]
                    entry["kind"] = "map"
                    if v == "message":
                        inner = re.search(r"BTreeMap<\s*[^,]+,\s*(.+?),?\s*>$", ty).group(1)
                        entry["type"] = canonical(resolve(inner, mod_path))
                    else:
                        entry["type"] = v
                elif kind.startswith("bytes"):
                    entry["kind"] = "bytes"
                else:
                    entry["kind"] = kind
                fields.append(entry)
            messages[name] = fields
    # keep what the roots reach
    keep, todo = set(), list(ROOTS)
    while todo:
        n = todo.pop()
        if n in keep or n not in messages:
            continue
        keep.add(n)
        for f in messages[n]:
            if "type" in f and f["kind"] in ("message", "map"):
                todo.append(f["type"])
    missing = [r for r in ROOTS if r not in messages]
    if missing:
        sys.exit(f"messages not found in k8s-pb: {missing}")
    out = {n: messages[n] for n in sorted(keep)}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
