# Sourced by the CI steps that run after the README's test command: go to the checkout's
# root and enter the venv that command made (without it a step has nothing to test).
cd "$(dirname "${BASH_SOURCE[1]}")/.."
if [ ! -f .venv/bin/activate ]; then
  echo ".ci/$(basename "${BASH_SOURCE[1]}"): no .venv here (the README's test command makes it)" >&2
  exit 2
fi
. .venv/bin/activate
