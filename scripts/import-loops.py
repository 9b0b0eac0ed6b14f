#!/usr/bin/env python3
"""Import loops between kftpd's source files (issue #15: there should be none).

Reads every `crate::a::b` path in the code (comments and `#[cfg(test)] mod tests` left
out), maps it to the file that defines the module, and prints each strongly connected
component of more than one file. Exit status 1 when there is a loop.

    python3 scripts/import-loops.py [SRC_DIR] [MODULE...]   # MODULE...: print its edges
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "crates", "kftpd", "src")
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs"):
            rel = os.path.relpath(os.path.join(d, f), root)[:-3]
            mod = rel.replace("/mod", "").replace("/", "::")
            if mod not in ("lib", "main"):
                files[mod] = open(os.path.join(d, f)).read()


def module_of(path):
    parts = path.split("::")
    for i in range(len(parts), 0, -1):
        m = "::".join(parts[:i])
        if m in files:
            return m
    return None


graph = {m: set() for m in files}
for m, text in files.items():
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
    text = re.sub(r"//.*", "", text)
    paths = re.findall(r"crate::([a-z_0-9]+(?:::[a-z_0-9]+)*)", text)
    for group in re.findall(r"use crate::\{([^}]*)\}", text):
        paths += re.findall(r"([a-z_0-9]+(?:::[a-z_0-9]+)*)", group)
    parent = "::".join(m.split("::")[:-1])
    for name in re.findall(r"super::([a-z_0-9]+)", text):
        paths.append((parent + "::" if parent else "") + name)
    for p in paths:
        r = module_of(p)
        if r and r != m and not m.startswith(r + "::"):
            graph[m].add(r)

# Tarjan's strongly connected components.
sys.setrecursionlimit(10000)
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        scc = []
        while True:
            w = stack.pop()
            on.discard(w)
            scc.append(w)
            if w == v:
                break
        sccs.append(scc)


for v in graph:
    if v not in index:
        visit(v)
loops = [s for s in sccs if len(s) > 1]
for s in loops:
    print(f"loop of {len(s)} files: {', '.join(sorted(s))}")
for m in sys.argv[2:]:
    print(m, "->", ", ".join(sorted(graph.get(m, ()))))
if not loops:
    print("no import loop")
sys.exit(1 if loops else 0)
