#!/usr/bin/env python3
"""Lists pairs of source files of one crate that import each other (`crate::`, `super::`,
`self::` paths and `mod.rs` children), the shape issue 11 forbids. Exit 1 when any is found.

    scripts/import-cycles.py [crate_src_dir ...]   (default: every crate's src/ in the workspace)
"""
import os, re, sys

def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib', 'main'):
                rel = rel[:-1]
            if rel and rel[-1] == 'tests' or 'bin' in rel[:1]:
                continue  # test modules and binaries are leaves
            mods[tuple(rel)] = p
    return mods

PATH = re.compile(r'\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)')

def resolve(mods, here, kind, parts):
    base = () if kind == 'crate' else (here[:-1] if kind == 'super' else here)
    full = base + tuple(parts)
    for n in range(len(full), 0, -1):
        if full[:n] in mods:
            return full[:n]
    return None

def deps(mods):
    out = {m: set() for m in mods}
    for m, p in mods.items():
        text = open(p, encoding='utf-8').read()
        text = text.split('#[cfg(test)]')[0]  # test modules may use anything
        text = re.sub(r'//[^\n]*', '', text)  # comments name modules without importing them
        # `use super::{a, b}` groups: expand the first level.
        for kind, rest in PATH.findall(text):
            parts = [x for x in rest.split('::') if x]
            t = resolve(mods, m, kind, parts)
            if t is not None and t != m and not (len(t) < len(m) and m[:len(t)] == t and kind == 'super' and False):
                out[m].add(t)
        for g in re.finditer(r'\b(crate|super)::\{([^}]*)\}', text):
            for item in g.group(2).split(','):
                item = item.strip().split('::')[0].split(' ')[0]
                if item:
                    t = resolve(mods, m, g.group(1), [item])
                    if t is not None and t != m:
                        out[m].add(t)
    return out

def main():
    roots = sys.argv[1:] or [os.path.join(d, 'src') for d in
        ['gateway', 'admin-api', 'sesame', 'benches'] + [os.path.join('crates', c) for c in sorted(os.listdir('crates'))]]
    bad = 0
    for src in roots:
        if not os.path.isdir(src):
            continue
        mods = modules(src)
        d = deps(mods)
        for a in d:
            for b in d[a]:
                if a < b and a in d.get(b, ()):
                    print(f"{mods[a]} <-> {mods[b]}")
                    bad += 1
    print(f"{bad} pair(s) of files importing each other")
    sys.exit(1 if bad else 0)

main()
