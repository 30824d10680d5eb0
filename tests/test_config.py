"""The compiled thread-control module and show_config."""

import re
from pathlib import Path

import pytest

import minigrad as mg


def test_thread_count_round_trip():
    before = mg.get_num_threads()
    try:
        mg.set_num_threads(1)
        assert mg.get_num_threads() == 1
        mg.set_num_threads(2)
        expected = 2 if mg.config()["openmp"] else 1
        assert mg.get_num_threads() == expected
    finally:
        mg.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -3])
def test_set_num_threads_rejects_non_positive(bad):
    with pytest.raises(ValueError, match="positive"):
        mg.set_num_threads(bad)


def test_show_config_reports_build(capsys):
    mg.show_config()
    out = capsys.readouterr().out
    for key in ("minigrad", "openmp", "num_threads", "isa", "cflags", "blas"):
        assert re.search(rf"^{key}\s*:", out, re.M), f"{key} missing from show_config()"
    assert mg.__version__ in out


def test_readme_example_runs():
    """The README's 20-line example is real code that trains to a useful accuracy."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not next to the tests (installed elsewhere)")
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert blocks, "README has no python example"
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    assert scope["accuracy"] > 0.95


def test_import_leaves_the_process_environment_alone():
    """Importing minigrad used to export OMP_WAIT_POLICY=PASSIVE for the whole process,
    which slowed PyTorch (it shares minigrad's libgomp) 1.5-3x; now no OpenMP setting is
    changed and OPENBLAS_THREAD_TIMEOUT is set only while NumPy loads."""
    import os
    import subprocess
    import sys

    root = Path(mg.__file__).resolve().parents[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")
    }
    env["PYTHONPATH"] = str(root)
    code = (
        "import os, minigrad\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    )
    # cwd: `python -c` puts the working directory first on sys.path, and a source checkout
    # there (whose minigrad/_C holds no built extensions) would shadow the installed package.
    tests_dir = str(Path(__file__).resolve().parent)
    run = dict(env=env, capture_output=True, text=True, cwd=tests_dir)
    r = subprocess.run([sys.executable, "-c", code], **run)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "None"]
    # a value the user exported is kept
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    r = subprocess.run([sys.executable, "-c", code], **run)
    assert r.stdout.split() == ["PASSIVE", "None"]
