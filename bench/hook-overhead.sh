#!/usr/bin/env bash
# What exp's git hooks add to `git commit` in a repository with RUNS recorded runs (default
# 10,000): the wall time of `git commit` without hooks, with all of exp's hooks installed, and of
# `exp hook post-commit` alone, median of N commits each (default 7), interleaved so drift hits
# them alike. Goal: post-commit adds < 50 ms.
#
# The runs are written straight into git with `git fast-import` (10,000 snapshot commits, each
# with its own tree, and 10,000 record commits whose run.json is a real record with its id,
# name, snapshot and metrics changed), not by running exp 10,000 times.
# Usage: bench/hook-overhead.sh [N] [RUNS]   (EXP=path/to/exp; default .build/release/exp)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-7}" "${2:-10000}" <<'PY'
import json, os, random, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import lib
n, count = int(sys.argv[2]), int(sys.argv[3])
exp = lib.exp_binary()
work = tempfile.mkdtemp(prefix="exp-bench-hooks-")
repo = os.path.join(work, "repo")
os.makedirs(repo)
env = lib.env()
env["PATH"] = os.path.dirname(os.path.abspath(exp)) + ":" + env["PATH"]
def run(argv, **kw):
    return subprocess.run(argv, cwd=repo, env=env, check=True, stdout=subprocess.PIPE, **kw).stdout
run(["git", "init", "-q", "-b", "main"])
for i in range(20):
    with open(os.path.join(repo, f"module{i:02d}.py"), "w") as f:
        f.write(f"# module {i}\n" * 50)
with open(os.path.join(repo, "train.py"), "w") as f:
    f.write("print('train')\n")
run(["git", "add", "-A"]); run(["git", "commit", "-q", "-m", "base"])
head = run(["git", "rev-parse", "HEAD"]).decode().strip()

# One real run as the template of every record.
with open(os.path.join(repo, "train.py"), "a") as f:
    f.write("# template\n")
run([exp, "run", "--name", "template", "--", "sh", "-c", "echo loss: 0.5; echo acc: 0.9"], stderr=subprocess.DEVNULL)
ref = run(["git", "for-each-ref", "--format=%(refname)", "refs/exp/runs/"]).decode().split()[0]
template = json.loads(run(["git", "show", f"{ref}:run.json"]))
run(["git", "update-ref", "-d", ref])
run(["git", "checkout", "-q", "--", "train.py"])

# Phase 1: snapshot commits, each with its own train.py.
start = time.perf_counter()
stream = []
for i in range(count):
    body = f"print('train')\n# variant {i}\n".encode()
    stream.append(b"commit refs/bench/snapshots\nmark :%d\ncommitter Bench <bench@example.com> 1764000000 +0000\n"
                  b"data 13\nexp snapshot\nfrom %s\nM 100644 inline train.py\ndata %d\n%s\n"
                  % (i + 1, head.encode(), len(body), body))
marks = os.path.join(work, "marks")
run(["git", "fast-import", "--quiet", f"--export-marks={marks}"], input=b"".join(stream))
commits = {}
with open(marks) as f:
    for line in f:
        mark, sha = line.split()
        commits[int(mark[1:])] = sha
trees = run(["git", "cat-file", "--batch-check=%(objectname)"],
            input="".join(f"{commits[i + 1]}^{{tree}}\n" for i in range(count)).encode()).decode().split()

# Phase 2: record commits on refs/exp/runs/<id>.
alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
rng = random.Random(7)
stream = []
for i in range(count):
    record = dict(template)
    seconds = 1764000000 + i
    prefix = "".join(alphabet[(seconds >> (5 * (6 - k))) & 31] for k in range(7))
    record["id"] = prefix + "".join(rng.choice(alphabet) for _ in range(19))
    record["name"] = f"bench-{i}"
    record["snapshot"] = dict(template["snapshot"], commit=commits[i + 1], tree=trees[i])
    record["base"] = dict(template["base"], commit=head)
    record["links"] = {"committed": []}
    loss = rng.random()
    record["metrics"] = {"loss": {"last": loss, "min": loss, "max": loss, "count": 1}}
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    subject = f"exp run bench-{i}: succeeded".encode()
    stream.append(b"commit refs/exp/runs/%s\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s\n"
                  b"from %s\ndeleteall\nM 100644 inline run.json\ndata %d\n%s\n"
                  b"M 100644 inline metrics.jsonl\ndata 0\n\nM 100644 inline output.log\ndata 0\n\n"
                  % (record["id"].encode(), seconds, len(subject), subject, commits[i + 1].encode(), len(data), data))
run(["git", "fast-import", "--quiet"], input=b"".join(stream))
run(["git", "update-ref", "-d", "refs/bench/snapshots"])
run(["git", "pack-refs", "--all"])
made = time.perf_counter() - start
listed = len(run([exp, "list", "--json"]).decode().split('"record_commit"')) - 1
print(f"exp: {exp}\nrepo: {count} runs written with git fast-import in {made:.1f} s ({listed} listed by exp list)\n")

def commit(i):
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.write(f"print('train')\n# commit {i}\n")
    run(["git", "add", "-A"])
    t = time.perf_counter()
    run(["git", "commit", "-q", "-m", f"commit {i}"], stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def hook_alone(name="post-commit", args=()):
    t = time.perf_counter()
    run([exp, "hook", name, *args], stderr=subprocess.DEVNULL, input=b"")
    return time.perf_counter() - t

without, with_hooks, alone, floor = [], [], [], []
commit(-1)
for i in range(n):
    run([exp, "hooks", "uninstall"])
    without.append(commit(2 * i))
    run([exp, "hooks", "install"])
    with_hooks.append(commit(2 * i + 1))
    alone.append(hook_alone())
    floor.append(hook_alone("pre-push", ("origin", "url")))
base, hooked, single, fixed = (statistics.median(x) * 1000 for x in (without, with_hooks, alone, floor))
print(f"git commit without hooks        {base:8.1f} ms")
print(f"git commit with exp's hooks     {hooked:8.1f} ms   (+{hooked - base:.1f} ms: prepare-commit-msg + post-commit)")
print(f"exp hook post-commit alone      {single:8.1f} ms   (goal: post-commit adds < 50 ms)")
print(f"exp hook pre-push, autopush off {fixed:8.1f} ms   (an exp process that opens the repo and looks nothing up:"
      f" the floor an indexed lookup adds to)")
print(f"median of {n}; runs: {count}")
shutil.rmtree(work)
PY
