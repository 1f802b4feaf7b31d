#!/usr/bin/env bash
# A guided tour of `exp snapshot` and `exp run` in a throw-away repository.
#
# Makes a git repo in a temp folder from the files in examples/, commits them, then edits
# train.py, adds an untracked file (and a .env that must never be taken), and snapshots the
# working tree with exp. Shows the snapshot commit, what it holds, and that `git status`,
# HEAD and the index are exactly as before.
#
# Usage: examples/demo.sh          (EXP=path/to/exp to pick a binary; default .build/debug/exp)
#        KEEP=1 examples/demo.sh   (keep the temp repo and print where it is)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
exp="${EXP:-$root/.build/debug/exp}"
case "$exp" in /*) ;; *) exp="$PWD/$exp" ;; esac
if [[ ! -x "$exp" ]]; then
    echo "demo: no exp binary at $exp; run \`swift build\` (or \`make demo\`) first, or set EXP" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/exp-demo-XXXXXX")"
if [[ -n "${KEEP:-}" ]]; then
    trap 'echo; echo "demo repo kept at $work/repo"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi

# Hermetic git: no system or user config, a fixed identity and clock, home inside the temp dir.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_DATE="2026-01-02T03:04:05Z" GIT_COMMITTER_DATE="2026-01-02T03:04:05Z"
export EXP_NOW="2026-01-02T03:04:05Z" GIT_PAGER=cat PAGER=cat
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY
mkdir -p "$HOME"

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; "$@"; }

repo="$work/repo"
mkdir -p "$repo"
cd "$repo"

step "A project under git: train.py and a README, committed"
git init -q -b main
git config user.name "Demo User"
git config user.email "demo@example.com"
cp "$here/train.py" train.py
echo "# demo: a tiny model trained with examples/train.py" > README.md
printf '__pycache__/\n*.ckpt\n' > .gitignore
git add -A
git commit -q -m "Add training script"
show git log --oneline

step "Work in progress: an edited train.py, a new untracked file, a .env with a token"
sed -i 's/default=0.5, help="learning rate (default 0.5)"/default=0.3, help="learning rate (default 0.3)"/' train.py
printf 'lr: 0.3\nepochs: 10\n' > config.yaml
echo "API_TOKEN=do-not-commit" > .env
echo "checkpoint bytes" > model.ckpt  # ignored by .gitignore: not part of the snapshot either
show git status --porcelain
status_before="$(git status --porcelain)"
head_before="$(git rev-parse HEAD)"
index_before="$(git hash-object .git/index)"

step "Train once, as you would (exp run will wrap exactly this)"
show python3 train.py --epochs 3

step "exp snapshot --json: the whole working tree as a commit, HEAD and index untouched"
printf '$ exp snapshot --json\n'
json="$("$exp" snapshot --json)"
echo "$json"
commit="$(printf '%s' "$json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["commit"])')"
tree="$(printf '%s' "$json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["tree"])')"

step "The snapshot commit $commit (parent: HEAD)"
show git show --stat "$commit"

step "Same tree as \`git add -A && git write-tree\` would give (minus the .env)"
scratch="$work/oracle-index"
cp -p .git/index "$scratch"  # -p: keep the index time, or git misses racily clean edits
GIT_INDEX_FILE="$scratch" git add -A -- ':/' ':(top,exclude,literal).env'
oracle="$(GIT_INDEX_FILE="$scratch" git write-tree)"
echo "snapshot tree: $tree"
echo "git add -A:    $oracle"

step "Nothing moved: git status, HEAD and the index are as before"
show git status --porcelain
status_after="$(git status --porcelain)"
failed=0
[[ "$status_before" == "$status_after" ]] && echo "git status --porcelain: unchanged" || { echo "git status CHANGED"; failed=1; }
[[ "$head_before" == "$(git rev-parse HEAD)" ]] && echo "HEAD: unchanged ($head_before)" || { echo "HEAD MOVED"; failed=1; }
[[ "$index_before" == "$(git hash-object .git/index)" ]] && echo "index: unchanged" || { echo "index CHANGED"; failed=1; }
[[ "$tree" == "$oracle" ]] && echo "tree: equals git add -A" || { echo "tree DIFFERS from git add -A"; failed=1; }
git cat-file -e "$commit^{commit}" && [[ "$(git rev-parse "$commit^")" == "$head_before" ]] \
    || { echo "snapshot commit is not a child of HEAD"; failed=1; }

# Runs are ordered by when they started: use the real clock from here on.
unset EXP_NOW

step "exp run: the same training, now recorded with its exact code, params and metrics"
show "$exp" run -- python3 train.py --lr 0.3 --epochs 5 || failed=1

step "Another try with a higher learning rate"
show "$exp" run --name high-lr -m "try a bigger step" -- python3 train.py --lr 0.8 --epochs 5 || failed=1

step "exp list: newest first, with the params that differ and the last metrics"
show "$exp" list || failed=1

step "exp show latest: everything exp recorded about the run"
show "$exp" show latest || failed=1

step "Finding the best: filter and sort by params and metrics; min:loss names the best run anywhere a run is asked for"
show "$exp" list --where "lr > 0.1" --sort loss --columns name,lr,loss,loss.min,acc || failed=1
show "$exp" log min:loss || failed=1

step "It is all plain git: the run's record, and its code one commit below (first parent)"
show git for-each-ref refs/exp/runs/
run_ref="$(git for-each-ref --format='%(refname)' refs/exp/runs/ | head -1)"
show git log --oneline --first-parent -2 "$run_ref"
[[ "$status_before" == "$(git status --porcelain)" ]] && echo "git status --porcelain: still unchanged" \
    || { echo "git status CHANGED"; failed=1; }

step "exp plot: the two runs' curves, overlaid, one chart per metric (live while runs train; --svg FILE for a picture)"
show "$exp" plot latest~1 latest || failed=1
exit "$failed"
