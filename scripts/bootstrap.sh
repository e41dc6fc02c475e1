#!/usr/bin/env bash
# One-step set-up for backcoach: system packages, .venv, the package, the speech model.
#   bash scripts/bootstrap.sh run    set up, then run the main job (listen, or a demo with no microphone)
#   bash scripts/bootstrap.sh test   set up with the test dependencies, then run the tests
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
shift || true

say() { printf 'backcoach setup: %s\n' "$*" >&2; }

# System packages: espeak-ng (pyttsx3's voice on Linux) and libportaudio2 (sounddevice).
need=()
for pkg in espeak-ng libportaudio2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${need[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    say "please install ${need[*]} with your system's package manager"
  fi
fi

# Python environment and the package.
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$py" -m venv .venv
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ "$mode" = "test" ]; then
  say "installing backcoach with its test dependencies"
  "${pip[@]}" -e ".[dev]"
else
  say "installing backcoach"
  "${pip[@]}" -e .
fi

# The speech model: downloaded once, verified against models/*.json.
.venv/bin/backcoach model fetch

case "$mode" in
  run)  exec .venv/bin/backcoach start "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  setup) say "done" ;;
  *) say "unknown mode '$mode' (use run, test or setup)"; exit 2 ;;
esac
