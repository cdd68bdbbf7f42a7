"""Plans the module offline: does every `count` and `for_each` have a value
at plan time, on first contact?

`terraform plan` needs the AWS provider, which these machines cannot
fetch. But the failure that breaks a first apply ("Invalid for_each
argument ... known only after apply") is decided by the expressions alone,
and Terraform's built-in `terraform_data` resource reproduces it offline:
its attributes are unknown until apply, like a new resource's ARN.

So this writes a copy of the module in which every resource becomes a
`terraform_data` with the same `count` / `for_each` (its attributes read as
`output.<attr>`: unknown at plan), every data source a known placeholder,
and variables, locals, outputs and the module's own `terraform_data` input
checks (their preconditions) stay as they are. What it cannot see: the
provider's own argument checks, `dynamic` blocks, `depends_on` cycles, and
data sources whose arguments are unknown until apply. Then it plans, with no
network:

- every example under `terraform/examples`, converted the same way;
- the module with every ARN and id input it takes from its caller given as
  a value known only after apply (the caller creates it in the same apply),
  as `create_*` switches allow.

Usage: plan_offline.py TERRAFORM_BINARY WORKDIR
"""
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def blocks(text: str):
    """Top-level blocks: (header, body) with the braces' content."""
    i = 0
    while True:
        m = re.compile(r'^(resource|data|locals|variable|output|module|provider|terraform|check)\b([^{\n]*)\{', re.M).search(text, i)
        if not m:
            return
        depth, j = 1, m.end()
        in_string = False
        while depth:
            c = text[j]
            if in_string and c == "\\":
                j += 1  # an escaped character, a quote included
            elif c == '"':
                in_string = not in_string
            elif not in_string and c == "{":
                depth += 1
            elif not in_string and c == "}":
                depth -= 1
            j += 1
        yield m.group(1), m.group(2).strip(), text[m.end(): j - 1]
        i = j


def without_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        in_string, escaped = False, False
        for k, c in enumerate(line):
            if escaped:
                escaped = False
            elif in_string and c == "\\":
                escaped = True
            elif c == '"':
                in_string = not in_string
            elif c == "#" and not in_string:
                line = line[:k]
                break
        out.append(line)
    return "\n".join(out)


def top_level_argument(body: str, name: str) -> str | None:
    """The expression of `name = ...` at the body's top level (it may span
    lines while brackets are open)."""
    depth = 0
    lines = body.splitlines()
    for n, line in enumerate(lines):
        stripped = line.strip()
        if depth == 0 and re.match(rf"{name}\s*=", stripped):
            expr = stripped.split("=", 1)[1].strip()
            opened = expr.count("(") + expr.count("[") + expr.count("{") - expr.count(")") - expr.count("]") - expr.count("}")
            k = n
            while opened > 0:
                k += 1
                expr += "\n" + lines[k]
                opened += lines[k].count("(") + lines[k].count("[") + lines[k].count("{")
                opened -= lines[k].count(")") + lines[k].count("]") + lines[k].count("}")
            return expr
        depth += line.count("{") - line.count("}")
    return None


RESOURCE_REF = re.compile(r"(?<![\w.])(aws_[a-z0-9_]+|random_[a-z0-9_]+)\.([a-z0-9_]+)((?:\[[^\]]*\])?)")
DATA_REF = re.compile(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)((?:\[[^\]]*\])?)\.([a-z0-9_]+)")


# Attributes read of each resource, by `type__name`; every resource also
# has the common ones (read through a variable, e.g. `for td in ...`).
COMMON_ATTRS = {"arn", "id", "name", "family", "repository_url", "arn_without_revision"}
RESOURCE_ATTRS: dict = {}
# How each resource repeats: "count", "for_each" or absent.
REPETITION: dict = {}


def note_repetition(src: pathlib.Path) -> None:
    for f in sorted(src.glob("*.tf")):
        for kind, header, body in blocks(without_comments(f.read_text())):
            if kind == "resource":
                rtype, rname = re.findall(r'"([^"]+)"', header)
                for arg in ("count", "for_each"):
                    if top_level_argument(body, arg) is not None:
                        REPETITION[f"{rtype}__{rname}"] = arg


def rewrite(expr: str, data_attrs: dict) -> str:
    """Resource attributes become unknown-at-plan `terraform_data` outputs;
    data source attributes known placeholders."""
    def data(m):
        kind, name, index, attr = m.groups()
        data_attrs.setdefault(f"{kind}__{name}", set()).add(attr)
        return f"local.data__{kind}__{name}.{attr}"

    expr = DATA_REF.sub(data, expr)

    def resource(m):
        kind, name, index = m.groups()
        key = f"{kind}__{name}"
        attr = re.match(r"\.([a-z0-9_]+)", expr[m.end():])
        if attr:
            RESOURCE_ATTRS.setdefault(key, set()).add(attr.group(1))
            return f"terraform_data.{key}{index}.output"
        # The resource as a value (its instances): their outputs, shaped as
        # the resource is (one, a list by count, a map by for_each).
        shape = REPETITION.get(key)
        if shape == "for_each":
            return f"{{ for k, v in terraform_data.{key} : k => v.output }}{index}"
        if shape == "count":
            return f"[for v in terraform_data.{key} : v.output]{index}"
        return f"terraform_data.{key}.output{index}"

    return RESOURCE_REF.sub(resource, expr)


def placeholder(kind: str, attrs: set) -> str:
    known = {
        "name": '"eu-west-1"', "region": '"eu-west-1"', "account_id": '"123456789012"', "partition": '"aws"',
        "cidr_block": '"10.0.0.0/16"', "json": '"{}"', "arn": '"arn:aws:iam::123456789012:role/x"', "id": '"x"',
        "dns_suffix": '"amazonaws.com"',
    }
    return "{ " + ", ".join(f"{a} = {known.get(a, chr(34) + 'x' + chr(34))}" for a in sorted(attrs)) + " }"


def convert(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Writes `src`'s configuration to `dst` with terraform_data for resources."""
    dst.mkdir(parents=True, exist_ok=True)
    RESOURCE_ATTRS.clear()
    REPETITION.clear()
    note_repetition(src)
    out = []
    data_attrs: dict = {}
    data_counted = set()
    for f in sorted(src.glob("*.tf")):
        text = without_comments(f.read_text())
        for kind, header, body in blocks(text):
            if kind in ("variable", "locals"):
                out.append(f"{kind} {header} {{{rewrite(body, data_attrs)}}}")
            elif kind == "resource" and header.startswith('"terraform_data"'):
                # Built in already: kept whole, so its preconditions (the
                # module's input checks) are evaluated too.
                out.append(f"resource {header} {{{rewrite(body, data_attrs)}}}")
            elif kind == "resource":
                rtype, rname = re.findall(r'"([^"]+)"', header)
                meta = []
                for arg in ("count", "for_each"):
                    expr = top_level_argument(body, arg)
                    if expr is not None:
                        meta.append(f"  {arg} = {rewrite(expr, data_attrs)}")
                out.append((f"{rtype}__{rname}", meta))
            elif kind == "data":
                dtype, dname = re.findall(r'"([^"]+)"', header)
                if top_level_argument(body, "count") is not None:
                    data_counted.add(f"{dtype}__{dname}")
            elif kind == "module":
                # Providers are not configured here: the copy needs none.
                body = re.sub(r"^\s*providers\s*=.*$", "", rewrite(body, data_attrs), flags=re.M)
                out.append(f"module {header} {{{body}}}")
            elif kind == "output":
                value = top_level_argument(body, "value")
                out.append(f"output {header} {{\n  value = {rewrite(value, data_attrs)}\n}}")
            # providers and terraform blocks are not needed to plan.
    # Each resource's output: the attributes read of it, unknown until apply.
    for k, item in enumerate(out):
        if isinstance(item, tuple):
            key, meta = item
            attrs = ", ".join(f'{a} = "{a}"' for a in sorted(RESOURCE_ATTRS.get(key, set()) | COMMON_ATTRS))
            out[k] = f'resource "terraform_data" "{key}" {{\n' + "\n".join(meta) + f"\n  input = {{ {attrs} }}\n}}"
    for key, attrs in data_attrs.items():
        value = placeholder(key, attrs)
        if key in data_counted:
            value = f"[{value}]"
        out.append(f"locals {{\n  data__{key} = {value}\n}}")
    # Counted data sources are indexed: data.x.y[0].attr -> local.data__x__y.attr
    text = "\n\n".join(out)
    text = re.sub(r"local\.data__([a-z0-9_]+)\.", lambda m: f"local.data__{m.group(1)}." if m.group(1) not in data_counted else f"local.data__{m.group(1)}[0].", text)
    (dst / "main.tf").write_text(text + "\n")


def plan(terraform: str, root: pathlib.Path, variables: dict) -> subprocess.CompletedProcess:
    terraform = shutil.which(terraform) or terraform
    env = {"TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "HOME": str(root)}
    init = subprocess.run([terraform, "init", "-backend=false", "-input=false", "-no-color"], cwd=root, capture_output=True, text=True, env=env)
    if init.returncode != 0:
        return init
    args = [terraform, "plan", "-input=false", "-lock=false", "-refresh=false", "-no-color"]
    for k, v in variables.items():
        args += ["-var", f"{k}={v}"]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, env=env)


def unknown_inputs_root(dst: pathlib.Path) -> None:
    """The module with every ARN / id input its caller may create in the
    same apply given as a value known only after apply."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "main.tf").write_text("""
resource "terraform_data" "caller" {
  input = "created-in-this-apply"
}
locals {
  later = terraform_data.caller.output
}
module "auditship" {
  source                 = "../../modules/auditship"
  bucket_name            = "bucket-${local.later}"
  create_bucket          = false
  kms_key_arn            = local.later
  create_kms_key         = false
  alarm_topic_arn        = local.later
  create_alarm_topic     = false
  heartbeat_topic_arn    = local.later
  send_heartbeat         = true
  ecs_cluster_arn        = local.later
  create_ecs_cluster     = false
  image                  = "image-${local.later}"
  db_user                = "auditship_check"
  db_password_secret_arn = local.later
  db_password_from_secret = true
  vpc_id                 = local.later
  create_vpc_endpoints   = true
  subnet_ids             = [local.later, "subnet-${local.later}"]
  security_group_ids     = [local.later]
  route_table_ids        = [local.later]
  rds_instance_arns      = [local.later]
  db_resource_ids        = [local.later]
  targets = {
    shop  = { selection = ["--cluster", "prod-shop"] }
    other = { selection = ["--tag", "audit=on"], account_id = "222222222222", external_id = "x-${local.later}" }
  }
}
""")


def placeholders(example: pathlib.Path) -> dict:
    """A value for each variable of an example that has no default."""
    values = {}
    for f in sorted(example.glob("*.tf")):
        for kind, header, body in blocks(without_comments(f.read_text())):
            if kind != "variable" or top_level_argument(body, "default") is not None:
                continue
            name = re.findall(r'"([^"]+)"', header)[0]
            kind_of = (top_level_argument(body, "type") or "string").strip()
            values[name] = '["x-1","x-2"]' if kind_of.startswith("list") else "123456789012"
    return values


def main() -> int:
    terraform, work = sys.argv[1], pathlib.Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    # The same layout as terraform/, so examples' module sources resolve.
    for module in sorted((ROOT / "terraform/modules").iterdir()):
        convert(module, work / "modules" / module.name)
    cases = []
    for example in sorted((ROOT / "terraform/examples").iterdir()):
        convert(example, work / "examples" / example.name)
        cases.append((f"example {example.name}", work / "examples" / example.name, placeholders(example)))
    unknown_inputs_root(work / "examples" / "_unknown-inputs")
    cases.append(("the module with caller-created ARNs and ids", work / "examples" / "_unknown-inputs", {}))
    failures = 0
    for what, root, variables in cases:
        result = plan(terraform, root, variables)
        if result.returncode != 0:
            failures += 1
            print(f"plan-offline: {what} does not plan:\n{result.stdout[-4000:]}{result.stderr[-4000:]}", file=sys.stderr)
        else:
            print(f"plan-offline: {what} plans (every count and for_each known before apply)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
