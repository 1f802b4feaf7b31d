#!/usr/bin/env bash
# Artifact store speed, on one file of SIZE_MB (default 2048) in a fresh repo:
#  1. `exp-bench store-file` (exp's artifact store alone: hash + copy into .git/exp/objects,
#     reading the file once) against `sha256sum` and `cp` of the same file: goal exp >= 80%
#     of the throughput of sha256sum plus the copy, i.e. (sha256sum + cp) / exp >= 0.8;
#     median of RUNS (default and minimum 3);
#  2. what `exp run --artifact` adds to a command that writes the file (the same work,
#     through a whole run);
#  3. the before-scan `exp run` takes before the command starts: `exp run -- true` with the
#     Lightning default against `--no-artifacts`, in a repo with a 50,000-file data folder,
#     1,000 class folders, a virtualenv of 2,000 packages and 100 lightning_logs versions
#     (median of 9).
# The page cache is warm for every tool (the file was just written); `sync` runs between
# measurements, untimed, so no tool pays for another's write-back.
# Usage: bench/artifacts.sh [RUNS] [SIZE_MB]   (EXP=path/to/exp; default .build/release/exp;
# exp-bench is looked for beside it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-3}" "${2:-2048}" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import lib
runs, size_mb = max(3, int(sys.argv[2])), int(sys.argv[3])
exp = lib.exp_binary()
bench = lib.bench_binary(exp)
work = tempfile.mkdtemp(prefix="exp-bench-artifacts-")
repo = os.path.join(work, "repo")
os.makedirs(repo)
lib.git(repo, "init", "-q", "-b", "main")
with open(os.path.join(repo, ".gitignore"), "w") as f:
    f.write("*.bin\nlightning_logs/\ndata/\nvenv/\n")
lib.git(repo, "add", "-A")
lib.git(repo, "commit", "-q", "-m", "base")
big = os.path.join(repo, "big.bin")
chunk = os.urandom(1 << 20)
with open(big, "wb") as f:
    for _ in range(size_mb):
        f.write(chunk[:-16] + os.urandom(16))  # no two chunks alike
subprocess.run(["sync"], check=True)
objects = os.path.join(repo, ".git", "exp", "objects")
size = size_mb << 20
print(f"exp: {exp}\nfile: {size_mb} MB, runs: {runs} (median)")
print(f"filesystem: {subprocess.run(['stat', '-f', '-c', '%T', repo], capture_output=True, text=True).stdout.strip()}\n")

def wall(argv, before=None, **kw):
    if before:
        before()
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(argv, cwd=repo, env=lib.env(), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start

def clear_store():
    shutil.rmtree(objects, ignore_errors=True)

def clear_copy():
    for name in ("copy.bin", "out.bin"):
        try:
            os.remove(os.path.join(repo, name))
        except FileNotFoundError:
            pass

wall(["sha256sum", big])  # warm-up: the file in the page cache
sha, ossl, cp, store, copy_cmd, run_cmd = [], [], [], [], [], []
for _ in range(runs):
    sha.append(wall(["sha256sum", big]))
    ossl.append(wall(["openssl", "dgst", "-sha256", big]))
    cp.append(wall(["cp", big, "copy.bin"], before=clear_copy))
    store.append(wall([bench, "store-file", big], before=clear_store))
    copy_cmd.append(wall(["cp", big, "out.bin"], before=clear_copy))
    run_cmd.append(wall([exp, "run", "--artifact", "out.bin", "--", "cp", big, "out.bin"],
                        before=lambda: (clear_copy(), clear_store())))
clear_copy()
m = {k: statistics.median(v) for k, v in
     dict(sha=sha, ossl=ossl, cp=cp, store=store, copy_cmd=copy_cmd, run_cmd=run_cmd).items()}
rate = lambda s: f"{size / s / 1e6:7.0f} MB/s"
print(f"sha256sum                  {m['sha']:6.2f} s  {rate(m['sha'])}")
print(f"openssl dgst -sha256       {m['ossl']:6.2f} s  {rate(m['ossl'])}   (the libcrypto SHA-256 exp uses)")
print(f"cp                         {m['cp']:6.2f} s  {rate(m['cp'])}")
print(f"exp-bench store-file       {m['store']:6.2f} s  {rate(m['store'])}")
print(f"  (sha256sum + cp) / exp   = {(m['sha'] + m['cp']) / m['store'] * 100:.0f}%   (goal >= 80%)")
print(f"  sha256sum / exp          = {m['sha'] / m['store'] * 100:.0f}%   (hashing alone, for reference)")
print(f"  (openssl + cp) / exp     = {(m['ossl'] + m['cp']) / m['store'] * 100:.0f}%   (against the same hash code)")
added = m['run_cmd'] - m['copy_cmd']
print(f"exp run --artifact -- cp   {m['run_cmd']:6.2f} s  (cp alone {m['copy_cmd']:.2f} s; exp adds {added:.2f} s,"
      f" {size / max(added, 1e-9) / 1e6:.0f} MB/s of artifact)\n")

# Before-scan cost: a repo whose ignored data is large but named by no pattern.
data = os.path.join(repo, "data")
for i in range(50_000):
    if i % 10_000 == 0:
        os.makedirs(os.path.join(data, "flat"), exist_ok=True)
    open(os.path.join(data, "flat", f"img{i:06d}.jpg"), "wb").close()
for c in range(1_000):
    folder = os.path.join(data, "train", f"class{c:04d}")
    os.makedirs(folder)
    for i in range(10):
        open(os.path.join(folder, f"{i}.jpg"), "wb").close()
venv = os.path.join(repo, "venv")
os.makedirs(venv)
open(os.path.join(venv, "pyvenv.cfg"), "w").close()
for p in range(2_000):
    for sub in ("a", "b", "c"):
        os.makedirs(os.path.join(venv, "lib", "python3.11", "site-packages", f"pkg{p:04d}", sub))
for v in range(100):
    folder = os.path.join(repo, "lightning_logs", f"version_{v}", "checkpoints")
    os.makedirs(folder)
    for e in range(2):
        with open(os.path.join(folder, f"epoch={e}-step={e * 10}.ckpt"), "wb") as f:
            f.write(b"x" * 1024)
    open(os.path.join(repo, "lightning_logs", f"version_{v}", "hparams.yaml"), "w").close()
scan_runs = 9
wall([exp, "run", "--", "true"]); wall([exp, "run", "--no-artifacts", "--", "true"])
with_scan, without = [], []
for _ in range(scan_runs):
    with_scan.append(wall([exp, "run", "--", "true"]))
    without.append(wall([exp, "run", "--no-artifacts", "--", "true"]))
a, b = statistics.median(with_scan), statistics.median(without)
print(f"exp run -- true, Lightning default scan   {a * 1000:7.1f} ms")
print(f"exp run --no-artifacts -- true            {b * 1000:7.1f} ms")
print(f"  before+after scans of 200 checkpoints (61,000 data files, 8,000 venv folders not walked):"
      f" {(a - b) * 1000:.1f} ms")
shutil.rmtree(work)
PY
