#!/usr/bin/env python3
"""Derive the list/map merge semantics of the built-in Kubernetes types.

Kubernetes marks lists as `x-kubernetes-list-type: map|set|atomic` (with
`x-kubernetes-list-map-keys`) and maps as `x-kubernetes-map-type`. k8s-openapi's
generated sources encode exactly this metadata in their `DeepMerge` impls
(`merge_strategies::list::map(..., &[|lhs, rhs| lhs.name == rhs.name])`, ...), but the
schemars schemas they emit do not carry the extensions. This script reads the crate's
sources and writes the facts as JSON, which the emulator folds back into the schemas it
serves and uses for strategic merge patch and server-side apply.

Usage: tools/gen-list-semantics.py <path to k8s-openapi-X/src/v1_NN> > e2e/sim/src/apis/builtin/list_semantics.json
"""
import json
import os
import re
import sys


def camel(rust: str) -> str:
    rust = rust.rstrip("_")
    head, *rest = rust.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main(root: str) -> None:
    out: dict[str, dict[str, dict]] = {}
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            src = open(os.path.join(dirpath, f), encoding="utf-8").read()
            name = re.search(r'fn schema_name\(\)[^{]*\{\s*"([^"]+)"', src)
            merge = re.search(r"impl crate::DeepMerge for \w+ \{(.*?)\n\}", src, re.S)
            if not name or not merge:
                continue
            # json name of each rust field, from the deserializer's field table
            json_of = {r: j for j, r in re.findall(r'"([^"]+)" => Field::Key_(\w+)', src)}
            body = merge.group(1)
            entry: dict[str, dict] = {}
            for m in re.finditer(
                r"merge_strategies::list::map\(\s*&mut self\.(\w+),\s*other\.\w+,\s*&\[(.*?)\],",
                body,
                re.S,
            ):
                keys = [camel(k) for k in re.findall(r"lhs\.(\w+) ==", m.group(2))]
                entry[json_of.get(m.group(1), camel(m.group(1)))] = {"list": "map", "keys": keys}
            for m in re.finditer(r"merge_strategies::list::set\(&mut self\.(\w+)", body):
                entry[json_of.get(m.group(1), camel(m.group(1)))] = {"list": "set"}
            for m in re.finditer(r"merge_strategies::map::atomic\(&mut self\.(\w+)", body):
                entry[json_of.get(m.group(1), camel(m.group(1)))] = {"map": "atomic"}
            if entry:
                out[name.group(1)] = dict(sorted(entry.items()))
    json.dump(dict(sorted(out.items())), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
