#!/usr/bin/env bash
# Lists the Rust files over 600 lines and the functions over 100 lines outside
# tests, the size rule of the code layout (see docs/ and STYLE.md habits).
# Test code is left out: tests/, fuzz/ and bench/ trees, crates/testkit (the
# integration tests' harness), files named tests.rs or
# *_tests.rs, files declared under `#[cfg(test)] mod x;`, and functions inside
# `#[cfg(test)]` items. Functions are found with a brace count over the source
# with comments, strings and char literals blanked, which is enough for rustfmt
# output.
#
# usage: scripts/size-check.sh [MAX_FILE_LINES [MAX_FN_LINES]]
# exit: 0 when nothing is over, 1 when something is (each one listed).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "${1:-600}" "${2:-100}" <<'PY'
import os, re, sys

MAX_FILE, MAX_FN = int(sys.argv[1]), int(sys.argv[2])

def blank(src):
    """Source with comments, strings and char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j): depth += 1; j += 2
                elif src.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif re.match(r'b?r#*"', src[i:i + 40]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == "'":
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x..|\\.|[^\\'])'", src[i:])
            if m:
                out.append(" " * m.end()); i += m.end()
            else:  # a lifetime
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)

def match_brace(text, k):
    depth = 0
    for j in range(k, len(text)):
        if text[j] == "{": depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0: return j
    return len(text) - 1

def body_start(text, k):
    """Index of the `{` opening a function body, or -1 when a `;` ends the item first."""
    depth = 0
    for j in range(k, len(text)):
        c = text[j]
        if c in "([": depth += 1
        elif c in ")]": depth -= 1
        elif depth == 0 and c == ";": return -1
        elif depth == 0 and c == "{": return j
    return -1

FN = re.compile(r"\bfn\s+(\w+)")
CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
MOD_DECL = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")

def test_spans(text):
    """Byte ranges of items under #[cfg(test)] (their braces)."""
    spans = []
    for m in CFG_TEST.finditer(text):
        k = m.end()
        semi, brace = text.find(";", k), text.find("{", k)
        if brace >= 0 and (semi < 0 or brace < semi):
            spans.append((m.start(), match_brace(text, brace)))
    return spans

files = []
for top in ["src", "crates"]:
    for root, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in ("tests", "target", "benches", "testkit"))
        files += [os.path.join(root, f) for f in sorted(names) if f.endswith(".rs")]

test_files = set()
texts = {}
for path in files:
    with open(path, encoding="utf-8") as f:
        texts[path] = blank(f.read())
for path, text in texts.items():
    base = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    for m in MOD_DECL.finditer(text):
        name = m.group(1)
        here = base if stem in ("lib", "main", "mod") else os.path.join(base, stem)
        test_files.add(os.path.join(here, name + ".rs"))
        test_files.add(os.path.join(here, name, "mod.rs"))

over = 0
for path in files:
    name = os.path.basename(path)
    if path in test_files or name == "tests.rs" or name.endswith("_tests.rs"):
        continue
    text = texts[path]
    lines = text.count("\n")
    if lines > MAX_FILE:
        print(f"file {path}: {lines} lines (over {MAX_FILE})"); over += 1
    spans = test_spans(text)
    for m in FN.finditer(text):
        if any(a <= m.start() <= b for a, b in spans):
            continue
        brace = body_start(text, m.end())
        if brace < 0:
            continue  # a declaration without a body
        end = match_brace(text, brace)
        first = text.count("\n", 0, m.start()) + 1
        length = text.count("\n", m.start(), end) + 1
        if length > MAX_FN:
            print(f"fn {path}:{first} {m.group(1)}: {length} lines (over {MAX_FN})"); over += 1
sys.exit(1 if over else 0)
PY
