#!/usr/bin/env python3
"""Holds recorded pbi-sim traffic to Microsoft's published Power BI REST API description.

Usage: check.py SWAGGER TRAFFIC_DIR

TRAFFIC_DIR holds the JSON-lines files pbi-sim writes when PBI_SIM_TRAFFIC_DIR names it: one line per request it
served (method, path, query, request body, status, answer body). Each request to the REST API (`/v1.0/...`) must be
an operation of the description (path and method), with only the query parameters the operation declares and a
body its schema accepts; each answer with a 2xx status must be a status the operation declares, with a body its
schema accepts. The schemas are Swagger 2.0's, a subset of JSON Schema draft 4, checked with the `jsonschema`
package (nobody here wrote it). Every other route must be on the short list below, each with the public source it
follows instead. Exit 0 with the counts when everything holds, 1 with the first problems when not, 2 on bad usage.
"""

import json
import pathlib
import re
import sys

from jsonschema import Draft4Validator

# REST calls the description does not have, each with the public source the simulator follows.
UNDOCUMENTED = [
    (r"^/v1\.0/myorg/resources$",
     "the storage account attached to a workspace: undocumented, as the Power BI portal calls it"),
]

# Routes that are not the REST API, each with what checks it instead.
NOT_REST = [
    (r"^/(webapi/xmla|xmla|olap/msmdpump\.dll)$", "XMLA (MS-SSAS): xmla-proto's vectors"),
    (r"^/(spglobalservice/|powerbi/globalservice/|powerbi/databases/|metadata/v201606/|webapi/clusterResolve$)",
     "XMLA routing: undocumented, following ADOMD's order as recorded by fabric-emulator"),
    (r"^/[^/]+/oauth2/v2\.0/token$", "Entra's token endpoint: the identity platform's protocol pages"),
    (r"^/metadata/identity/oauth2/token$", "the managed identity endpoint of a VM (IMDS)"),
    (r"^/msi/token$", "the managed identity endpoint of App Service and Container Apps (IDENTITY_ENDPOINT)"),
    (r"^/subscriptions(/|$)", "Azure Resource Manager: cross-checked with azure-mgmt-storage"),
]


def compile_operations(spec):
    """(regex, literal segment count, path template, path item) for every path of the description."""
    out = []
    for template, item in spec["paths"].items():
        parts = template.strip("/").split("/")
        rx = "^/" + "/".join("[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else re.escape(p) for p in parts) + "$"
        literal = sum(1 for p in parts if not p.startswith("{"))
        out.append((re.compile(rx, re.IGNORECASE), literal, template, item))
    # The most literal template first: `datasets/upstreamDataflows` before `datasets/{datasetId}`.
    out.sort(key=lambda o: -o[1])
    return out


def resolve(spec, node):
    """A `$ref` to `#/parameters/...` (or any local reference) resolved."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = spec
        for key in node["$ref"][2:].split("/"):
            target = target[key]
        node = target
    return node


def validate(spec, schema, instance):
    """Problems with `instance` under `schema` (which may refer to the description's definitions)."""
    root = {"allOf": [schema], "definitions": spec.get("definitions", {})}
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft4Validator(root).iter_errors(instance)]


def check_record(spec, operations, record, counts):
    """The problems of one recorded exchange; counts what was validated."""
    method, path = record["method"].lower(), record["path"]
    if not path.startswith("/v1.0/"):
        if any(re.search(rx, path) for rx, _ in NOT_REST):
            counts["not_rest"] += 1
            return []
        return [f"{record['method']} {path}: a route neither the REST description nor the list of other routes covers"]
    match = next(((t, item) for rx, _, t, item in operations if rx.match(path) and method in item), None)
    if match is None:
        if any(re.search(rx, path) for rx, _ in UNDOCUMENTED):
            counts["undocumented"] += 1
            return []
        return [f"{record['method']} {path}: no operation of the description"]
    template, item = match
    op = item[method]
    name = f"{op.get('operationId', template)} ({record['method']} {path})"
    params = [resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
    problems = []
    # The request: its query and its body.
    declared = {p["name"].lower(): p for p in params if p.get("in") == "query"}
    sent = {k.lower(): v for k, v in record.get("query", [])}
    for key, value in sent.items():
        p = declared.get(key)
        if p is None:
            problems.append(f"{name}: query parameter '{key}' is not one the operation declares")
        elif p.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
            problems.append(f"{name}: query parameter '{key}' is '{value}', not an integer")
    for key, p in declared.items():
        if p.get("required") and key not in sent:
            problems.append(f"{name}: required query parameter '{key}' is missing")
    body = next((p for p in params if p.get("in") == "body"), None)
    if body is not None and record.get("request") is not None:
        problems += [f"{name}: request body {e}" for e in validate(spec, body.get("schema", {}), record["request"])]
    elif body is not None and body.get("required") and record.get("request") is None:
        problems.append(f"{name}: the operation requires a body; none was sent")
    counts["requests"] += 1
    # The answer.
    status = record["status"]
    if 200 <= status < 300:
        response = op.get("responses", {}).get(str(status))
        if response is None:
            problems.append(f"{name}: answered {status}, which the operation does not declare "
                            f"({', '.join(op.get('responses', {}))})")
        elif "schema" in response:
            if record.get("response") is None:
                problems.append(f"{name}: answered {status} without the JSON body its schema describes")
            else:
                problems += [f"{name}: answer {e}" for e in validate(spec, response["schema"], record["response"])]
        counts["answers"] += 1
    else:
        counts["errors"] += 1
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    spec = json.loads(pathlib.Path(argv[1]).read_text(encoding="utf-8"))
    operations = compile_operations(spec)
    files = sorted(pathlib.Path(argv[2]).glob("*.jsonl"))
    counts = {"requests": 0, "answers": 0, "errors": 0, "undocumented": 0, "not_rest": 0}
    problems = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{f.name}:{n}: not a record ({e})")
                continue
            problems += check_record(spec, operations, record, counts)
    title = f"{spec['info']['title']} {spec['info']['version']}"
    print(f"contracts: {len(files)} traffic files; {counts['requests']} requests and {counts['answers']} answers "
          f"validated against {title}; {counts['errors']} error answers (statuses the description does not "
          f"describe), {counts['undocumented']} calls of the undocumented list, {counts['not_rest']} other routes")
    if counts["requests"] == 0:
        problems.append("no REST request was recorded: is PBI_SIM_TRAFFIC_DIR reaching pbi-sim?")
    if problems:
        unique = list(dict.fromkeys(problems))
        print(f"contracts: {len(unique)} problems", file=sys.stderr)
        for p in unique[:40]:
            print(f"  {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
