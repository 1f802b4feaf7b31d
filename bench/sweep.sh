#!/usr/bin/env bash
# exp sweep: 40 runs of a command that exits at once, -j 2, on the 10,000-file repo of
# bench/snapshot.sh; time per run (sweep wall time / 40) against `git worktree add --detach`
# + `git worktree remove` of the same commit, 40 times in a shell loop, measured in the same
# run. Prints medians over ROUNDS (default 3) and the ratio (goal: <= 1.5x).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-3}" <<'PY'
import os, statistics, subprocess, sys, tempfile, time
here, rounds = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, here)
import lib
exp = os.environ.get("EXP_BINARY") or os.path.join(os.path.dirname(here), ".build", "release", "exp")
if not os.path.exists(exp):
    exp = os.path.join(os.path.dirname(here), ".build", "debug", "exp")
work = tempfile.mkdtemp(prefix="exp-bench-sweep-")
repo = os.path.join(work, "repo")
lib.make_repo(repo, tracked=10_000, folders=100, untracked=0, modified=0, ignored_mb=0)
subprocess.run(["git", "-C", repo, "add", "-A"], check=True)
subprocess.run(["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "all", "--allow-empty"], check=True)
exp_times, git_times = [], []
for round in range(rounds):
    start = time.perf_counter()
    subprocess.run([exp, "sweep", "-p", "i=range(0,40)", "-j", "2", "--name", f"b{round}", "--", "true", "{i}"],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exp_times.append((time.perf_counter() - start) / 40)
    start = time.perf_counter()
    subprocess.run(["bash", "-c", "for i in $(seq 40); do git worktree add -q --detach ../wt HEAD && git worktree remove --force ../wt; done"],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    git_times.append((time.perf_counter() - start) / 40)
e, g = statistics.median(exp_times), statistics.median(git_times)
print(f"exp sweep, per run (40 runs, -j 2): {e*1000:.0f} ms")
print(f"git worktree add --detach + remove, per run: {g*1000:.0f} ms")
print(f"ratio: {e/g:.2f}x (goal <= 1.5x)")
PY
