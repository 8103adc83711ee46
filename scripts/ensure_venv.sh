# Sourced by scripts/run and scripts/test: create .venv if missing and (re)install the
# project whenever pyproject.toml changed. Usage: source scripts/ensure_venv.sh [dev]
set -euo pipefail
extras="${1:-}"
python_bin=""
for candidate in python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python_bin="$candidate"; break
  fi
done
if [ -z "$python_bin" ]; then
  echo "MedXAI Desktop needs Python 3.11 or newer on PATH" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($python_bin --version)"
  "$python_bin" -m venv .venv
fi
target=".${extras:+[$extras]}"
stamp=".venv/.medxai-installed${extras:+-$extras}"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing MedXAI Desktop${extras:+ with $extras extras} into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
  echo "$want" > "$stamp"
fi
