# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the Markdown guides under docs/ as the RST extra docs of the collection docsite.

The guides are written once, in Markdown (GitHub shows them, the README links them). antsibull-docs reads
extra docs as RST from docs/docsite/rst/, listed in docs/docsite/extra-docs.yml; this script writes those
RST files from the Markdown so both stay one text. `--check` fails when a committed RST file is stale
(`hacking/gen_docs.py` runs it too, so `make docs` checks it, then runs `antsibull-docs lint-collection-docs`).

Only the Markdown the guides use is understood: ATX headings, paragraphs, fenced code, bullet and numbered
lists (with indented continuation lines), pipe tables, inline code, bold, links and HTML comments. Anything
else stops the script with the file and line, so a new construct cannot be rendered wrongly in silence.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# guide (docs/<name>.md) -> title in the docsite toctree; the order is the order in extra-docs.yml
GUIDES = (
    ("inventory", "GPU node inventory"),
    ("mig-planner", "MIG capacity and the MIG planner"),
    ("sharing", "Sharing GPUs without MIG: time-slicing and MPS"),
    ("boot", "New nodes arrive partitioned: MIG at boot, before kubelet"),
    ("awx", "Running from AWX / Automation Controller"),
    ("troubleshooting", "Troubleshooting"),
    ("compatibility", "Compatibility: GPU models, MIG profiles, EC2 instance types"),
)
LABEL_PREFIX = "ansible_collections.gpu_slicing.eks.docsite."
UNDERLINES = {1: "=", 2: "-", 3: "~", 4: "^"}
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)([-*]|\d+\.)\s+(.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")


class MarkdownError(ValueError):
    pass


def label(name):
    return LABEL_PREFIX + name.replace("-", "_")


def inline(text):
    """Markdown inline markup -> RST (code spans are protected from the other rules)."""
    parts = []
    for index, piece in enumerate(_CODE.split(text)):
        if index % 2:
            parts.append("``%s``" % piece)
            continue
        piece = piece.replace("\\", "\\\\").replace("|", "\\|")
        piece = re.sub(r"(\w)_(?=\s|$|[.,;:)])", r"\1\\_", piece)  # "name_" would be an RST reference
        piece = _LINK.sub(lambda m: "`%s <%s>`__" % (m.group(1), m.group(2)), piece)
        parts.append(piece)
    out = ""
    for piece in parts:
        # RST inline markup must be separated from word characters: "``a``s" -> "``a``\ s"
        if out and piece and out.endswith("``") and piece[0].isalnum():
            piece = "\\ " + piece
        if out and piece.startswith("``") and out[-1].isalnum():
            out += "\\ "
        out += piece
    return out


def table(rows, where):
    indent = rows[0][: len(rows[0]) - len(rows[0].lstrip())]
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    if len(cells) < 2 or not all(set(c) <= set("-: ") for c in cells[1]):
        raise MarkdownError("%s: a table needs a header and a |---| separator row" % where)
    width = len(cells[0])
    out = [indent + ".. list-table::", indent + "   :header-rows: 1", ""]
    for row in [cells[0]] + cells[2:]:
        if len(row) != width:
            raise MarkdownError("%s: table row has %d cells, header has %d" % (where, len(row), width))
        for column, cell in enumerate(row):
            out.append("%s   %s %s" % (indent, "* -" if column == 0 else "  -", inline(cell) or "\\ "))
    return out + [""]


def convert(text, name):
    lines = text.splitlines()
    out = [".. _%s:" % label(name), ""]
    i = 0
    while i < len(lines):
        line = lines[i]
        where = "docs/%s.md:%d" % (name, i + 1)
        stripped = line.strip()
        if not stripped:
            out.append("")
            i += 1
        elif stripped.startswith("<!--"):
            while "-->" not in lines[i]:
                i += 1
            i += 1
        elif stripped.startswith("```"):
            language = stripped[3:].strip() or "text"
            indent = line[: len(line) - len(line.lstrip())]
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            if i == len(lines):
                raise MarkdownError("%s: unclosed code fence" % where)
            i += 1
            out += ["%s.. code-block:: %s" % (indent, language), ""]
            out += [("%s   %s" % (indent, b)).rstrip() for b in body] + [""]
        elif _HEADING.match(line):
            level, title = len(_HEADING.match(line).group(1)), inline(_HEADING.match(line).group(2))
            out += [title, UNDERLINES[level] * len(title), ""]
            i += 1
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            if out and out[-1]:
                out.append("")
            out += table(rows, where)
        elif _BULLET.match(line) or line.startswith("   ") or line.startswith("  "):
            match = _BULLET.match(line)
            if match:
                indent, marker, rest = match.groups()
                marker = "#." if marker[0].isdigit() else "-"
                if out and out[-1] and not _BULLET.match(out[-1]):
                    out.append("")
                out.append("%s%s %s" % (indent, marker, inline(rest)))
            else:
                out.append(inline(line.rstrip()))
            i += 1
        elif stripped[0] in "<>" or stripped.startswith(("![", "* ", "+ ")):
            raise MarkdownError("%s: Markdown construct not supported here: %r" % (where, stripped[:40]))
        else:
            if out and out[-1] and (_BULLET.match(out[-1]) or out[-1].startswith("  ")) and not line.startswith(" "):
                out.append("")
            out.append(inline(line.rstrip()))
            i += 1
    while out and not out[-1]:
        out.pop()
    collapsed = []
    for entry in out:
        if entry or (collapsed and collapsed[-1]):
            collapsed.append(entry)
    return "\n".join(collapsed) + "\n"


def render(root=ROOT, markdown=None):
    """{relative path: text} of every docsite file this script owns; ``markdown`` overrides guide texts by name."""
    files = {}
    for name, _title in GUIDES:
        if markdown and name in markdown:
            text = markdown[name]
        else:
            with open(os.path.join(root, "docs", name + ".md"), encoding="utf-8") as handle:
                text = handle.read()
        files["docs/docsite/rst/%s.rst" % name] = convert(text, name)
    toctree = "".join("      - %s\n" % name for name, _title in GUIDES[:-1])
    internals = "".join("      - %s\n" % name for name, _title in GUIDES[-1:])
    files["docs/docsite/extra-docs.yml"] = (
        "---\n# generated by hacking/gen_docsite.py (GUIDES); the pages are docs/docsite/rst/*.rst, rendered from docs/*.md\n"
        "sections:\n  - title: Guides\n    toctree:\n" + toctree + "  - title: Reference\n    toctree:\n" + internals)
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a committed file differs")
    args = parser.parse_args()
    try:
        files = render()
    except MarkdownError as exc:
        print("gen_docsite: %s" % exc, file=sys.stderr)
        return 1
    stale = []
    for path, text in sorted(files.items()):
        full = os.path.join(ROOT, path)
        current = open(full, encoding="utf-8").read() if os.path.exists(full) else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(text)
            print("wrote %s" % path)
    known = set(files)
    folder = os.path.join(ROOT, "docs", "docsite", "rst")
    extra = sorted("docs/docsite/rst/" + f for f in os.listdir(folder) if "docs/docsite/rst/" + f not in known) \
        if os.path.isdir(folder) and not args.check else []
    if args.check and os.path.isdir(folder):
        extra = sorted("docs/docsite/rst/" + f for f in os.listdir(folder) if "docs/docsite/rst/" + f not in known)
    for path in extra:
        print("gen_docsite: %s has no Markdown source in GUIDES" % path, file=sys.stderr)
    if stale:
        print("gen_docsite: stale, run `python hacking/gen_docsite.py`: %s" % ", ".join(stale), file=sys.stderr)
    return 1 if stale or extra else 0


if __name__ == "__main__":
    sys.exit(main())
