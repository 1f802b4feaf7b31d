# Branch main with one commit holding train.py.
set -eu
git init -q -b main
echo "print('hello')" > train.py
git add -A
git commit -q -m "commit"
