"""Static checks of the Terraform module and example, and of deploy/ JSON.

What `terraform validate` would catch without the AWS provider: every file
parses; every variable has a type and a description; every var., local.,
module., data. and resource reference names something declared in its
directory; every JSON file parses.
"""
import json
import pathlib
import re
import sys

import hcl2

REF = re.compile(r"\b(var|local|module|data|aws_[a-z0-9_]+)\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?")


def check_dir(d: pathlib.Path) -> list[str]:
    errors = []
    declared = {"var": set(), "local": set(), "module": set(), "data": set(), "resource": set()}
    texts = {}
    for f in sorted(d.glob("*.tf")):
        text = f.read_text()
        texts[f] = text
        try:
            doc = hcl2.loads(text)
        except Exception as e:  # noqa: BLE001 - any parse error is the finding
            errors.append(f"{f}: does not parse: {e}")
            continue
        for block in doc.get("variable", []):
            for name, body in block.items():
                declared["var"].add(name)
                if not body.get("description"):
                    errors.append(f"{f}: variable {name} has no description")
                if "type" not in body:
                    errors.append(f"{f}: variable {name} has no type")
        for block in doc.get("locals", []):
            declared["local"].update(block.keys())
        for block in doc.get("module", []):
            declared["module"].update(block.keys())
        for block in doc.get("data", []):
            for kind, named in block.items():
                for name in named:
                    declared["data"].add(f"{kind}.{name}")
        for block in doc.get("resource", []):
            for kind, named in block.items():
                for name in named:
                    declared["resource"].add(f"{kind}.{name}")
        for block in doc.get("output", []):
            for name, body in block.items():
                if not body.get("description"):
                    errors.append(f"{f}: output {name} has no description")
    for f, text in texts.items():
        # Comments and string templates' $${...} escapes are not references.
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines()).replace("$${", "")
        for m in REF.finditer(code):
            head, name, third = m.groups()
            if head == "var" and name not in declared["var"]:
                errors.append(f"{f}: var.{name} is not declared")
            elif head == "local" and name not in declared["local"]:
                errors.append(f"{f}: local.{name} is not declared")
            elif head == "module" and name not in declared["module"]:
                errors.append(f"{f}: module.{name} is not declared")
            elif head == "data" and third and f"{name}.{third}" not in declared["data"]:
                errors.append(f"{f}: data.{name}.{third} is not declared")
            elif head.startswith("aws_") and f"{head}.{name}" not in declared["resource"]:
                # Attribute access on declared things looks the same; only
                # resource-shaped references are checked.
                preceding = code[max(0, m.start() - 1):m.start()]
                if preceding not in (".", '"', "-", "/", ":") and not head.endswith("_arn"):
                    errors.append(f"{f}: {head}.{name} is not a declared resource")
    return errors


def main() -> int:
    errors = []
    dirs = sorted({p.parent for p in pathlib.Path(sys.argv[1]).rglob("*.tf")})
    for d in dirs:
        errors += check_dir(d)
    jsons = sorted(pathlib.Path(sys.argv[2]).rglob("*.json"))
    for j in jsons:
        try:
            json.loads(j.read_text())
        except ValueError as e:
            errors.append(f"{j}: not JSON: {e}")
    for e in errors:
        print(f"terraform check: {e}", file=sys.stderr)
    print(f"terraform check: {len(dirs)} directories, {len(jsons)} JSON files, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
