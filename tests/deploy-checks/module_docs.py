"""The inputs and outputs tables of each Terraform module's README, made from
its variables.tf and outputs.tf, so the README cannot drift from the code.

  module_docs.py          fails (exit 1) naming each README that is not current
  module_docs.py --write  rewrites the tables between the markers

The tables sit between `<!-- BEGIN GENERATED -->` and `<!-- END GENERATED -->`.
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from plan_offline import blocks, top_level_argument, without_comments  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


def string_value(expr: str) -> str:
    """A description: a quoted string or a heredoc."""
    expr = expr.strip()
    heredoc = re.match(r"<<-?(\w+)\n(.*?)\n\s*\1\s*$", expr, re.S)
    if heredoc:
        return heredoc.group(2)
    if expr.startswith('"') and expr.endswith('"'):
        return expr[1:-1].replace('\\"', '"')
    return expr


def argument(body: str, name: str) -> str | None:
    """Like top_level_argument, but a heredoc runs to its end marker."""
    m = re.search(rf"^\s*{name}\s*=\s*<<-?(\w+)\n.*?\n\s*\1\s*$", body, re.M | re.S)
    if m:
        return m.group(0).split("=", 1)[1]
    return top_level_argument(body, name)


def tables(module: pathlib.Path) -> str:
    rows_in, rows_out = [], []
    for f in sorted(module.glob("*.tf")):
        text = f.read_text()
        for kind, header, body in blocks(without_comments(text)):
            name = re.findall(r'"([^"]+)"', header)
            if kind == "variable":
                description = string_value(argument(body, "description") or "")
                kind_of = one_line(argument(body, "type") or "any")
                default = argument(body, "default")
                shown = "required" if default is None else f"`{one_line(default)}`"
                rows_in.append(f"| `{name[0]}` | `{cell(kind_of)}` | {cell(shown)} | {cell(description)} |")
            elif kind == "output":
                description = string_value(argument(body, "description") or "")
                rows_out.append(f"| `{name[0]}` | {cell(description)} |")
    out = ["## Inputs", "", "| name | type | default | description |", "|---|---|---|---|", *rows_in]
    out += ["", "## Outputs", "", "| name | description |", "|---|---|", *rows_out]
    return "\n".join(out)


def main() -> int:
    write = "--write" in sys.argv
    stale = []
    for module in sorted((ROOT / "terraform/modules").iterdir()):
        readme = module / "README.md"
        if not readme.exists():
            stale.append(f"{readme}: missing (a README with {BEGIN} … {END} markers)")
            continue
        text = readme.read_text()
        if BEGIN not in text or END not in text:
            stale.append(f"{readme}: no {BEGIN} … {END} markers")
            continue
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        current = f"{head}{BEGIN}\n{tables(module)}\n{END}{tail}"
        if current != text:
            if write:
                readme.write_text(current)
            else:
                stale.append(f"{readme}: its inputs/outputs tables are not current")
    for s in stale:
        print(f"module-docs: {s}; run tests/deploy-checks/module_docs.py --write", file=sys.stderr)
    if not stale:
        print("module-docs: every module README's inputs and outputs are current")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
