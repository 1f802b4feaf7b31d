"""Shared helpers for the bench/ scripts: build test repositories and time commands."""

import os
import shutil
import statistics
import subprocess
import sys
import time

HERMETIC = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def env():
    e = dict(os.environ)
    e.update(HERMETIC)
    return e


def git(repo, *args, **kw):
    return subprocess.run(["git", "-C", repo, *args], env=env(), check=True,
                          stdout=subprocess.PIPE, **kw).stdout


def make_repo(path, tracked=10_000, folders=100, untracked=1_000, modified=5,
              ignored_mb=200, file_size=2048):
    """A repo with `tracked` committed files of ~file_size bytes in `folders` folders,
    then `untracked` new files, `modified` edited files and one big ignored file."""
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    filler = (b"x" * 63 + b"\n") * (file_size // 64)
    per_folder = max(1, tracked // folders)
    for i in range(tracked):
        folder = os.path.join(path, f"src{i // per_folder:03d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"file{i:06d}.py"), "wb") as f:
            f.write(b"# %d\n" % i + filler)
    with open(os.path.join(path, ".gitignore"), "w") as f:
        f.write("data/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    for i in range(untracked):
        folder = os.path.join(path, "new", f"n{i // 100:02d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"new{i:05d}.py"), "wb") as f:
            f.write(b"# new %d\n" % i + filler)
    for i in range(modified):
        name = os.path.join(path, f"src{i:03d}", f"file{i * per_folder:06d}.py")
        with open(name, "ab") as f:
            f.write(b"# edited\n")
    if ignored_mb:
        os.makedirs(os.path.join(path, "data"), exist_ok=True)
        with open(os.path.join(path, "data", "big.bin"), "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(ignored_mb):
                f.write(chunk)
    # Let the index be newer than every file, so neither tool sees racily-clean entries.
    time.sleep(1.1)
    git(path, "update-index", "-q", "--refresh")


def median_time(argv, cwd, runs, env_extra=None, shell=False):
    e = env()
    if env_extra:
        e.update(env_extra)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=e, check=True, shell=shell,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


GIT_RECIPE = (
    'T=$(mktemp) && cp .git/index "$T" && GIT_INDEX_FILE="$T" git add -A && '
    'tree=$(GIT_INDEX_FILE="$T" git write-tree) && '
    'c=$(git commit-tree "$tree" -p HEAD -m snapshot) && '
    'git update-ref refs/bench/snapshot "$c" && rm -f "$T"'
)


def exp_binary():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.environ.get("EXP"), os.path.join(root, ".build/release/exp")):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("bench: build exp first (swift build -c release) or set EXP=path/to/exp")


def bench_binary(exp):
    """exp-bench, the fixtures and plumbing of bench/, looked for beside `exp`."""
    path = os.path.join(os.path.dirname(exp), "exp-bench")
    if not os.path.exists(path):
        sys.exit(f"bench: {path} is missing: swift build -c release --product exp-bench")
    return path
