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

Windows: the kernels are written with GCC vector extensions, which MSVC's cl.exe rejects,
so where setuptools picks MSVC the C files are compiled with clang-cl instead (LLVM's
MSVC-compatible driver: same ABI, same linker and C runtime, GCC's extensions). It is
looked for in MINIGRAD_CLANG_CL, on PATH, in LLVM's default C:\\Program Files\\LLVM\\bin,
then in Visual Studio's "C++ Clang tools" (VC\\Tools\\Llvm\\x64\\bin); none found stops
the build saying how to get one. OpenMP there is LLVM's libomp (libomp.lib from LLVM's
lib directory; its libomp.dll must ship with the extensions: delvewheel bundles it into
the wheel, and an in-place build copies it next to them).

Environment knobs (for developers):
  MINIGRAD_NO_OPENMP=1       force the serial build
  MINIGRAD_BUILD_ONLY=a,b    build only these extensions (faster rebuilds)
  MINIGRAD_SANITIZE=address,undefined
                             build with these -fsanitize= checkers (gcc/clang), -O1 -g and
                             frame pointers, for tools/sanitize.sh (never for a release)
  MINIGRAD_CLANG_CL=C:\\path\\to\\clang-cl.exe
                             Windows: the clang-cl to compile with (else found as above)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sysconfig
import tempfile
import warnings
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
    # (not for MSVC builds, which BuildExt turns into clang-cl ones: detect_openmp_clang_cl)
    return os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]


def detect_openmp() -> tuple[list[str], list[str]]:
    """Return (compile_args, link_args) that enable OpenMP with gcc/clang, or ([], []) if
    none work."""
    if os.environ.get("MINIGRAD_NO_OPENMP"):
        return [], []
    candidates = [
        (["-fopenmp"], ["-fopenmp"]),  # gcc, clang with libomp
        (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),  # Apple clang + Homebrew libomp
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
    _warn_serial()
    return [], []


def _warn_serial() -> None:
    warnings.warn(
        "minigrad: the C compiler has no working OpenMP; building the kernels "
        "serially (they will run on one thread).",
        stacklevel=2,
    )


CLANG_CL_MISSING = r"""minigrad: building on Windows needs clang-cl, LLVM's MSVC-compatible
compiler: MSVC's cl.exe cannot compile minigrad's kernels (they use GCC vector extensions).
Install LLVM (https://github.com/llvm/llvm-project/releases, `winget install LLVM.LLVM` or
`choco install llvm`: it goes to C:\Program Files\LLVM, where this build looks) or Visual
Studio's "C++ Clang tools for Windows" component, or set MINIGRAD_CLANG_CL to the full
path of clang-cl.exe."""


def find_clang_cl(cl_exe: str) -> str:
    """clang-cl.exe for a Windows build (see the module docstring for where it is looked
    for); ``cl_exe`` is the cl.exe setuptools found, beside which Visual Studio keeps its
    own clang-cl. Stops the build with how to get one if there is none."""
    chosen = os.environ.get("MINIGRAD_CLANG_CL")
    if chosen:
        if not os.path.isfile(chosen):
            raise SystemExit(f"minigrad: MINIGRAD_CLANG_CL={chosen} is not a file")
        return chosen
    candidates = [shutil.which("clang-cl")]
    roots = (os.environ.get("ProgramW6432"), os.environ.get("ProgramFiles"), r"C:\Program Files")
    for root in roots:
        if root:
            candidates.append(os.path.join(root, "LLVM", "bin", "clang-cl.exe"))
    cl = Path(cl_exe)  # ...\VC\Tools\MSVC\<version>\bin\Host<arch>\<arch>\cl.exe
    if cl.is_absolute() and len(cl.parents) > 5:
        candidates.append(str(cl.parents[5] / "Llvm" / "x64" / "bin" / "clang-cl.exe"))
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    raise SystemExit(CLANG_CL_MISSING)


def detect_openmp_clang_cl(compiler, clang_cl: str) -> tuple[list[str], list[str]]:
    """(compile_args, link_args) that give clang-cl OpenMP, or ([], []): /openmp, and LLVM's
    libomp -- libomp.lib in the lib directory beside clang-cl's bin (LLVM's installer ships
    it; libomp.dll is in bin). Tried by building OMP_TEST with the MSVC compiler object
    itself (so with its include and library paths and link.exe) and running it."""
    if os.environ.get("MINIGRAD_NO_OPENMP"):
        return [], []
    llvm = Path(clang_cl).resolve().parent.parent
    cflags, ldflags = ["/openmp"], [f"/LIBPATH:{llvm / 'lib'}", "libomp.lib"]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OMP_TEST)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=ldflags)
            # an .exe finds its DLLs on PATH (an extension module, since Python 3.8, not)
            env = dict(os.environ, PATH=f"{llvm / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
            exe = os.path.join(tmp, "omp_test.exe")
            if subprocess.run([exe], env=env, capture_output=True, timeout=60).returncode == 0:
                return cflags, ldflags
        except Exception as e:  # CompileError, LinkError, OSError, a timeout: no OpenMP
            print(f"minigrad: OpenMP with clang-cl does not work: {e}")
    _warn_serial()
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


# gcc / clang. -fno-wrapv undoes the -fwrapv in Python's own CFLAGS: with wrapping signed
# arithmetic GCC cannot vectorize strided index loops (pooling ran 2.5x slower).
# -fvisibility=hidden: an extension exports only its PyInit function, so the C names the
# core and the family extensions both define (mg_sgemm: the real one, and the forwarder to
# it) can never interpose on each other, whatever the dlopen flags.
UNIX_CFLAGS = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-wrapv", "-fvisibility=hidden"]
# clang-cl: MSVC's /O2 switch set, then clang's own -O3 as above; C11 with GNU extensions;
# no errno from math functions. Nothing for visibility: a DLL exports only what is declared
# dllexport (the PyInit function) anyway.
WINDOWS_CFLAGS = ["/O2", "/clang:-O3", "/clang:-std=gnu11", "/clang:-fno-math-errno"]


def recorded_macros(cflags: list[str], openmp: bool) -> list[tuple[str, str]]:
    """How the kernels were built, for mg.show_config()."""
    return [
        ("MINIGRAD_CFLAGS", '"' + " ".join(cflags).replace('"', "") + '"'),
        ("MINIGRAD_HAVE_OPENMP", "1" if openmp else "0"),
    ]


class BuildExt(build_ext):
    """Chooses the compile and link flags, which depend on the compiler setuptools picked
    (known only here): gcc/clang, or MSVC, whose cl.exe is swapped for clang-cl."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "msvc":
            cflags, ldflags = self.use_clang_cl()
            openmp = "/openmp" in cflags
        else:
            omp_c, omp_l = detect_openmp()
            san_c, san_l = sanitizer_flags()
            cflags = [*UNIX_CFLAGS, *omp_c, *san_c]  # after -O3, so the sanitizer's -O1 wins
            ldflags = [*omp_l, *san_l]
            openmp = bool(omp_c)
        for ext in self.extensions:
            ext.extra_compile_args = list(cflags)
            ext.extra_link_args = list(ldflags)
            ext.define_macros = [*ext.define_macros, *recorded_macros(cflags, openmp)]
        super().build_extensions()
        if openmp and self.compiler.compiler_type == "msvc" and self.inplace:
            # an extension module finds its DLLs in its own directory (not on PATH): a
            # wheel gets libomp.dll from delvewheel, an in-place build from this copy
            dll = Path(self.compiler.cc).resolve().parent / "libomp.dll"
            dest = os.path.dirname(self.get_ext_fullpath(self.extensions[0].name))
            if dll.is_file():
                self.copy_file(str(dll), dest)
            else:
                warnings.warn(f"minigrad: no {dll} to copy next to the extensions", stacklevel=1)

    def use_clang_cl(self) -> tuple[list[str], list[str]]:
        """Make the MSVC compiler object compile with clang-cl (it keeps MSVC's link.exe,
        include and library paths); return clang-cl's (compile_args, link_args)."""
        cc = self.compiler
        if not cc.initialized:
            cc.initialize(self.plat_name)  # finds cl.exe, link.exe and their paths
        cc.cc = find_clang_cl(cc.cc)
        print(f"minigrad: compiling with {cc.cc}")
        # /GL is cl.exe's whole-program optimization: clang-cl ignores it (with a warning),
        # and then link.exe's /LTCG has nothing to do
        cc.compile_options = [f for f in cc.compile_options if f != "/GL"]
        for flags in getattr(cc, "_ldflags", {}).values():  # lists shared between keys
            if "/LTCG" in flags:
                flags.remove("/LTCG")
        if os.environ.get("MINIGRAD_SANITIZE"):
            warnings.warn("minigrad: MINIGRAD_SANITIZE is for gcc/clang; ignored", stacklevel=1)
        omp_c, omp_l = detect_openmp_clang_cl(cc, cc.cc)
        return [*WINDOWS_CFLAGS, *omp_c], omp_l


def extensions() -> list[Extension]:
    """Every src_c/<name>.pyx as minigrad._C.<name>; their flags are BuildExt's."""
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
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
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
    setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
