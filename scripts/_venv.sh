# Sourced by the scripts: makes .venv (Python >= 3.11) and installs the project with the
# pinned versions in constraints.txt. Reinstalls only when pyproject.toml, constraints.txt
# or the wanted extras change, so a second run starts at once.
# Usage: . scripts/_venv.sh [EXTRAS]   (e.g. "dev"; empty for the runtime only)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEWAY_VENV:-$ROOT/.venv}"
extras="${1:-}"

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)"
    echo "creating $VENV with $py" >&2
    "$py" -m venv "$VENV"
fi

spec="."
[ -n "$extras" ] && spec=".[$extras]"
# gateway/csrc: an editable install compiles the C sources once, so a changed one reinstalls
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" "$ROOT"/gateway/csrc/* | sha256sum | cut -c1-16)-$extras"
stamp="$VENV/.installed-$extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing $spec into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e "$spec") >&2
    echo "$want" >"$stamp"
fi
export PATH="$VENV/bin:$PATH"
