# Sourced by the CI steps that run after the README's test command: go to the checkout's
# root and enter the venv that command made (without it a step has nothing to test).
cd "$(dirname "${BASH_SOURCE[1]:-$0}")/.."
if [ ! -f .venv/bin/activate ]; then
  echo ".ci/$(basename "${BASH_SOURCE[1]:-$0}"): no .venv here (the README's test command makes it)" >&2
  exit 2
fi
. .venv/bin/activate

# requirements_of NAME...: the requirements of pyproject.toml's optional-dependency groups
# NAME (or of [build-system] for "build-system"), one per line, read where they are
# pinned. Installing them directly, rather than ".[NAME]", does not rebuild minigrad,
# which the README's command has just installed.
requirements_of() {
  python - "$@" <<'PY'
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)
for name in sys.argv[1:]:
    if name == "build-system":
        print("\n".join(project["build-system"]["requires"]))
    else:
        print("\n".join(project["project"]["optional-dependencies"][name]))
PY
}
