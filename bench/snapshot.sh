#!/usr/bin/env bash
# Compares `exp snapshot` with the git CLI recipe for the same job:
#   cp .git/index $T; GIT_INDEX_FILE=$T git add -A; git write-tree; git commit-tree; git update-ref
# on a repo of 10,000 tracked files (~2 KB, 100 folders), 1,000 untracked, 5 modified and a
# 200 MB ignored file, and on a 100,000-file version. Prints medians and the ratio exp/git.
# Usage: bench/snapshot.sh [RUNS]   (EXP=path/to/exp to pick a binary; default .build/release/exp)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-7}" <<'PY'
import os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import lib
runs = int(sys.argv[2])
exp = lib.exp_binary()
work = tempfile.mkdtemp(prefix="exp-bench-snapshot-")
print(f"exp: {exp}\nruns per measurement: {runs} (median)\n")
print(f"{'repo':<28}{'git recipe':>12}{'exp snapshot':>14}{'exp/git':>9}")
for tracked, folders, untracked in ((10_000, 100, 1_000), (100_000, 1_000, 1_000)):
    repo = os.path.join(work, f"r{tracked}")
    lib.make_repo(repo, tracked=tracked, folders=folders, untracked=untracked)
    # One warm-up each so both see a warm page cache.
    lib.median_time(lib.GIT_RECIPE, repo, 1, shell=True)
    lib.median_time([exp, "snapshot"], repo, 1)
    g, _ = lib.median_time(lib.GIT_RECIPE, repo, runs, shell=True)
    e, _ = lib.median_time([exp, "snapshot"], repo, runs)
    label = f"{tracked:,} files, {untracked:,} new"
    print(f"{label:<28}{g*1000:>10.1f}ms{e*1000:>12.1f}ms{e/g:>8.2f}x", flush=True)
import shutil; shutil.rmtree(work)
PY
