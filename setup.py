"""Build script for minigrad's compiled kernels.

Every ``src_c/<name>.pyx`` becomes the extension module ``minigrad._C.<name>``.
A wrapper names the C kernel files it needs in its own header, e.g.::

    # distutils: sources = [src_c/conv_f32.c, src_c/conv_f64.c]

so adding a kernel family never means editing this file.  Every kernel family (every
extension but the core, ``src_c/core.pyx``: CPU dispatch, threads, NaN scan, GEMM; and
the helpers ``checks`` and ``fingerprint``) also gets ``src_c/mg_runtime_client.c``,
through which it calls the core's one dispatch and GEMM (see ``src_c/mg_runtime.h``).
OpenMP is detected by compiling a tiny test program; where the compiler has none
(Apple clang without libomp, say) the extensions build serially and a warning says so.

Environment knobs (for developers):
  MINIGRAD_NO_OPENMP=1       force the serial build
  MINIGRAD_BUILD_ONLY=a,b    build only these extensions (faster rebuilds)
  MINIGRAD_SANITIZE=address,undefined
                             build with these -fsanitize= checkers (gcc/clang), -O1 -g and
                             frame pointers, for tools/sanitize.sh (never for a release)
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

OMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
}
"""


def _compiler() -> str:
    # sysconfig has no CC on Windows (MSVC builds): fall back to "cc" there too
    return os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]


def detect_openmp() -> tuple[list[str], list[str]]:
    """Return (compile_args, link_args) that enable OpenMP, or ([], []) if none work."""
    if os.environ.get("MINIGRAD_NO_OPENMP"):
        return [], []
    candidates = [
        (["-fopenmp"], ["-fopenmp"]),  # gcc, clang with libomp
        (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),  # Apple clang + Homebrew libomp
        (["/openmp"], []),  # MSVC
    ]
    cc = _compiler()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OMP_TEST)
        for cflags, ldflags in candidates:
            exe = os.path.join(tmp, "omp_test")
            # the flags the real build will get from the environment too (e.g. a
            # Homebrew libomp's -I and -L on macOS, see pyproject's cibuildwheel section)
            env = [os.environ.get(v, "").split() for v in ("CPPFLAGS", "CFLAGS", "LDFLAGS")]
            cmd = [cc, *env[0], *env[1], *cflags, src, "-o", exe, *ldflags, *env[2]]
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                continue
            if r.returncode == 0 and subprocess.run([exe], capture_output=True).returncode == 0:
                return cflags, ldflags
    warnings.warn(
        "minigrad: the C compiler has no working OpenMP; building the kernels "
        "serially (they will run on one thread).",
        stacklevel=1,
    )
    return [], []


RUNTIME_CLIENT = os.path.join("src_c", "mg_runtime_client.c")


def sanitizer_flags() -> tuple[list[str], list[str]]:
    """(compile_args, link_args) for MINIGRAD_SANITIZE=address,undefined (or a subset).

    -O1 keeps the stacks readable; -fno-sanitize-recover makes UBSan stop at the first
    report; the extension links the sanitizer runtimes dynamically, so Python must be
    started with libasan preloaded (tools/sanitize.sh does it)."""
    wanted = [s.strip() for s in os.environ.get("MINIGRAD_SANITIZE", "").split(",") if s.strip()]
    if not wanted:
        return [], []
    known = {"address", "undefined", "leak", "thread"}
    if set(wanted) - known:
        raise SystemExit(f"MINIGRAD_SANITIZE: unknown sanitizer(s) {sorted(set(wanted) - known)}")
    flag = "-fsanitize=" + ",".join(wanted)
    cflags = [flag, "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-O1", "-g"]
    return cflags, [flag]


def extensions() -> list[Extension]:
    omp_c, omp_l = detect_openmp()
    on_windows = sys.platform == "win32"
    # -fno-wrapv undoes the -fwrapv in Python's own CFLAGS: with wrapping signed
    # arithmetic GCC cannot vectorize strided index loops (pooling ran 2.5x slower).
    # -fvisibility=hidden: an extension exports only its PyInit function, so the C names
    # the core and the family extensions both define (mg_sgemm: the real one, and the
    # forwarder to it) can never interpose on each other, whatever the dlopen flags.
    cflags = (
        ["/O2"]
        if on_windows
        else ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-wrapv", "-fvisibility=hidden"]
    )
    cflags += omp_c
    san_c, san_l = ([], []) if on_windows else sanitizer_flags()
    cflags += san_c  # after -O3, so the sanitizer build's -O1 wins
    # Recorded so that mg.show_config() can report how the kernels were built.
    macros = [
        ("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION"),
        ("MINIGRAD_CFLAGS", '"' + " ".join(cflags).replace('"', "") + '"'),
        ("MINIGRAD_HAVE_OPENMP", "1" if omp_c else "0"),
    ]
    only = {s for s in os.environ.get("MINIGRAD_BUILD_ONLY", "").split(",") if s}
    # Headers hold most kernel code (templates, micro-kernels): a change to any of
    # them must rebuild every extension, not leave a stale .so behind.
    headers = sorted(glob.glob(os.path.join("src_c", "*.h")))
    headers += sorted(glob.glob(os.path.join("src_c", "*.pxd")))
    exts = []
    for pyx in sorted(glob.glob(os.path.join("src_c", "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        if only and name not in only:
            continue
        client = [] if name in ("core", "checks", "fingerprint") else [RUNTIME_CLIENT]
        exts.append(
            Extension(
                f"minigrad._C.{name}",
                [pyx, *client],
                include_dirs=[np.get_include(), "src_c"],
                define_macros=macros,
                extra_compile_args=cflags,
                extra_link_args=omp_l + san_l,
                depends=headers,
            )
        )
    return cythonize(
        exts,
        build_dir="build/cython",
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


if __name__ == "__main__":
    setup(ext_modules=extensions())
