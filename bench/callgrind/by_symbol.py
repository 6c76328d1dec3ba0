#!/usr/bin/env python3
# by_symbol.py IDLE BUSY DELIVERIES MODE [N]: exclusive Ir per delivery, (BUSY - IDLE) / DELIVERIES,
# of two callgrind dumps, grouped by MODE: sym (the symbol the code was inlined into), file, or crate
import subprocess, sys, re, collections
def load(f, mode):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", "--tree=none", f], capture_output=True, text=True).stdout
    d = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line: continue
        n = int(m.group(1).replace(",", "")); s = m.group(2)
        s = re.sub(r"\s*\[[^\]]*\]$", "", s)
        file, _, sym = s.partition(":")
        file = re.sub(r"/root/.cargo/registry/src/index.crates.io-[0-9a-f]+/", "", file)
        file = re.sub(r"/rustc/[0-9a-f]+/library/", "std:", file)
        if mode == "sym": key = sym
        elif mode == "crate": key = file.split("/")[0]
        else: key = file
        d[key] += n
    return d
a, b = load(sys.argv[1], sys.argv[4]), load(sys.argv[2], sys.argv[4])
n = int(sys.argv[3]); top = int(sys.argv[5]) if len(sys.argv) > 5 else 30
diff = {k: (b[k] - a.get(k, 0)) / n for k in set(a) | set(b)}
for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{v:8.0f}  {k[:180]}")
print(f"{sum(diff.values()):8.0f}  TOTAL")
