#!/usr/bin/env python3
"""The `use crate::` graph of ring's modules, and its layers.

Prints each module's dependencies (from `use crate::...` and `crate::x::`
paths in code, comments left out; a folder `x/` counts as module `x`, and
`shm_model.rs`, loom's stand-in, as `shm`), then the modules by layer.
Exits 1 when the graph has a cycle: ring/src/lib.rs promises there is none.

    scripts/module-graph.py [ring/src]
"""
import os
import re
import sys


def module_text(src, name):
    text = open(os.path.join(src, name + ".rs")).read()
    folder = os.path.join(src, name)
    if os.path.isdir(folder):
        for sub in sorted(os.listdir(folder)):
            text += open(os.path.join(folder, sub)).read()
    return text


def graph(src):
    names = {f[:-3] for f in os.listdir(src) if f.endswith(".rs")} - {"lib"}
    edges = {}
    for name in sorted(names):
        code = "\n".join(
            re.sub(r"//.*", "", line)
            for line in module_text(src, name).split("\n")
            if not line.strip().startswith("//")
        )
        deps = set()
        for group in re.finditer(r"use crate::\{([^;]*)\};", code, re.S):
            deps.update(re.findall(r"(?:^|[,{\s])([a-z_]+)(?=::|\s*[,}]|$)", group.group(1)))
        deps.update(re.findall(r"crate::([a-z_]+)", code))
        module = "shm" if name == "shm_model" else name
        deps = {"shm" if d == "shm_model" else d for d in deps & names} - {module}
        edges.setdefault(module, set()).update(deps)
    return edges


def cycles(edges):
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layers(edges):
    level = {}

    def depth(m):
        if m not in level:
            level[m] = 1 + max((depth(d) for d in edges.get(m, ())), default=-1)
        return level[m]

    for m in edges:
        depth(m)
    return [sorted(m for m in level if level[m] == n) for n in range(max(level.values()) + 1)]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "ring", "src")
    edges = graph(src)
    for module in sorted(edges):
        print(f"{module} -> {', '.join(sorted(edges[module])) or '(nothing)'}")
    found = cycles(edges)
    if found:
        print("cycles: " + "; ".join(" <-> ".join(c) for c in found))
        return 1
    print("cycles: none")
    for n, modules in enumerate(layers(edges)):
        print(f"layer {n}: {', '.join(modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
