#!/usr/bin/env bash
# Run tests/paraview with PYTHON (the .venv-pv interpreter), under a private Xvfb when one
# is installed so that the rendering test runs; extra arguments go to pytest.
# Xvfb gets -noreset: without it ParaView's OpenGL probe makes Xvfb reset between two
# connections and rendering aborts in a third to half of runs (docs/paraview.md).
set -euo pipefail
python=${1:?usage: tests/paraview/run.sh PYTHON [PYTEST-ARGS...]}
shift
cd "$(dirname "$0")/../.."
unset DISPLAY
if command -v Xvfb >/dev/null; then
    display_file=$(mktemp)
    exec 3>"$display_file"
    Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset >"$display_file.log" 2>&1 &
    xvfb_pid=$!
    exec 3>&-
    trap 'kill "$xvfb_pid" 2>/dev/null || true; rm -f "$display_file" "$display_file.log"' EXIT
    for _ in $(seq 100); do
        [ -s "$display_file" ] && break
        sleep 0.1
    done
    if [ -s "$display_file" ]; then
        export DISPLAY=":$(cat "$display_file")"
    else
        echo "Xvfb did not start ($(cat "$display_file.log")); the rendering test is skipped" >&2
    fi
fi
"$python" -m pytest -q -p no:cacheprovider tests/paraview "$@"
