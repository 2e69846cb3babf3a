#!/usr/bin/env python3
"""Checks that imports in src/ run one way: from the entry points down to the
domain, never back up or sideways, and that no files import each other in a
circle.

usage: scripts/check-layers.py [SRC_DIR]     (default: src)
       scripts/check-layers.py --self-test   (shows it fails on a bad tree)

The layers, top to bottom (a module may import from any layer below its own,
never from its own layer's other modules or from above):

    cli                              the command line (clap, dispatch)
    startup                          the one wiring place
    entrypoints                      routes, workers, the import function
    import                           the CSV import (a bulk workflow)
    provisioning                     the workflow
    intake, policy                   senders' adapters; the rules
    seats, portal, queue, notify     ports and their adapters
    config, clock, ids, telemetry    settings, time, ids, logging
    domain                           value types

An arrow is read from `use crate::…`, `use super::…`, `use self::…`, a parent
module's `use child::…` / `pub use child::…`, and inline `crate::a::b` paths;
`mod x;` declarations are not arrows. Test code (`#[cfg(test)]` items,
tests.rs, *_tests.rs, fuzz_support.rs) and src/bin are left out. Exit 1 on a
backwards or sideways arrow or a cycle, listing each.
"""
import os
import re
import sys
import tempfile

LAYERS = [
    ["cli"],
    ["startup"],
    ["entrypoints"],
    ["import"],
    ["provisioning"],
    ["intake", "policy"],
    ["seats", "portal", "queue", "notify"],
    ["config", "clock", "ids", "telemetry"],
    ["domain"],
]
LAYER_OF = {m: i for i, group in enumerate(LAYERS) for m in group}


def read_tree(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if not n.endswith(".rs"):
                continue
            path = os.path.join(root, n)
            rel = os.path.relpath(path, src)
            if n in ("tests.rs", "fuzz_support.rs") or n.endswith("_tests.rs"):
                continue
            if rel.startswith("bin" + os.sep):
                continue
            parts = rel[:-3].split(os.sep)
            is_dir_mod = parts[-1] in ("mod", "lib")
            if is_dir_mod:
                parts = parts[:-1]
            files[tuple(parts)] = (path, is_dir_mod)
    return files


def strip_tests(text):
    m = re.search(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"#\[cfg\(test\)\][^\n]*\n[^\n]*", "", text)
    return re.sub(r"//[^\n]*", "", text)


USE = re.compile(r"\buse\s+((?:crate|super|self|\w+)(?:::\w+)*)(?:::\{([^;]*)\})?\s*;", re.S)
INLINE = re.compile(r"(?<![\w:])crate((?:::\w+)+)")


def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [x.strip() for x in out if x.strip()]


def edges_of(files):
    def resolve(path):
        for k in range(len(path), 0, -1):
            if tuple(path[:k]) in files:
                return tuple(path[:k])
        return None

    edges = {}
    for mod, (path, is_dir_mod) in files.items():
        text = strip_tests(open(path, encoding="utf-8", errors="replace").read())
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M))
        here = list(mod)
        # The module a relative path starts from: a directory module is its
        # own parent of its children; a file module sits inside its parent.
        own = here if is_dir_mod else here
        parent = here[:-1]
        targets = set()

        def add(segs):
            t = resolve(segs)
            if t and t != mod:
                targets.add(t)

        for m in USE.finditer(text):
            head, *rest = m.group(1).split("::")
            if head == "crate":
                base = []
            elif head == "super":
                base = parent
            elif head == "self":
                base = own
            elif head in children:
                base, rest = own, [head] + rest
            else:
                continue  # an external crate
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
            prefixes = [base + rest]
            if m.group(2):
                for item in split_top(m.group(2)):
                    first = re.split(r"::|\s|\{", item)[0]
                    if first and first != "self":
                        prefixes.append(base + rest + [first])
            for p in prefixes:
                add(p)
        for m in INLINE.finditer(text):
            add([s for s in m.group(1).split("::") if s])
        edges[mod] = targets
    return edges


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            strong(v)
    return out


def name(m):
    return "/".join(m) or "lib"


def check(src):
    files = read_tree(src)
    edges = edges_of(files)
    problems = []
    unknown = sorted({m[0] for m in files if m and m[0] not in LAYER_OF})
    for u in unknown:
        problems.append(f"module {u} has no layer: add it to LAYERS in scripts/check-layers.py")
    for a, targets in sorted(edges.items()):
        if not a:
            continue  # lib.rs declares the modules
        for b in sorted(targets):
            if not b or a[0] == b[0]:
                continue
            la, lb = LAYER_OF.get(a[0]), LAYER_OF.get(b[0])
            if la is None or lb is None:
                continue
            if lb < la:
                problems.append(f"backwards: {name(a)} -> {name(b)} ({a[0]} is below {b[0]})")
            elif lb == la:
                problems.append(f"sideways: {name(a)} -> {name(b)} ({a[0]} and {b[0]} share a layer)")
    for comp in cycles(edges):
        inner = [f"{name(x)} -> {name(y)}" for x in comp for y in sorted(edges[x]) if y in comp]
        problems.append("cycle: " + ", ".join(name(m) for m in comp) + "\n    " + "\n    ".join(inner))
    n_edges = sum(len(t) for t in edges.values())
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} problem(s), {len(files)} files, {n_edges} arrows")
    return 1 if problems else 0


def self_test():
    """A tree with one arrow of each forbidden kind must fail; the same tree
    without them must pass."""
    good = {
        "lib.rs": "pub mod domain;\npub mod seats;\npub mod provisioning;\n",
        "domain/mod.rs": "pub mod pool;\npub use pool::PoolId;\n",
        "domain/pool.rs": "pub struct PoolId;\n",
        "seats/mod.rs": "use crate::domain::PoolId;\n",
        "provisioning/mod.rs": "mod a;\nmod b;\npub use a::A;\n",
        "provisioning/a.rs": "use super::b::B;\npub struct A;\n",
        "provisioning/b.rs": "use crate::seats;\npub struct B;\n",
    }
    bad = dict(good)
    bad["seats/mod.rs"] = "use crate::domain::PoolId;\nuse crate::provisioning::A;\n"
    bad["provisioning/b.rs"] = "use super::a::A;\npub struct B;\n"
    results = []
    for tree in (good, bad):
        with tempfile.TemporaryDirectory() as d:
            for rel, text in tree.items():
                path = os.path.join(d, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
            print(f"-- {'good' if tree is good else 'bad'} tree:")
            results.append(check(d))
    ok = results == [0, 1]
    print("self-test:", "passed" if ok else f"FAILED (exit codes {results})")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else "src"))
