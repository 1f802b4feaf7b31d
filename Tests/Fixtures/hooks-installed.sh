# Branch main with one commit ("init": train.py) and exp's git hooks installed.
set -eu
git init -q -b main
echo "print('v1')" > train.py
git add -A
git commit -q -m "init"
"$EXP" hooks install >/dev/null
