"""Fail if an OpenMP region of clang's LLVM IR holds wide-vector code compiled without AVX.

clang outlines the body of an ``omp parallel`` region into a function of its own, and
(clang 14 at least) does not give it the enclosing function's ``target`` attribute: the
vector code of an AVX2/AVX-512 kernel written inside the region is then compiled for
SSE2. src_c/local_kernels_impl.h keeps region bodies to calls of TARGET functions for
that reason; this check (run by tools/clang_cl_check.sh on every kernel file) keeps it
so. A function is flagged when it is an outlined region (``.omp_outlined.``) whose
``min-legal-vector-width`` is 256 or more (it handles 32- or 64-byte vectors) and whose
target features lack AVX.

Usage: python tools/check_omp_outlined.py file.ll [...]
"""

from __future__ import annotations

import re
import sys


def offenders(ll: str) -> list[str]:
    attrs = dict(re.findall(r"^attributes #(\d+) = \{(.*)\}$", ll, re.M))
    bad = []
    for name, group in re.findall(r'^define [^@]*@"?([\w.$]+)"?\(.*\) #(\d+)', ll, re.M):
        a = attrs.get(group, "")
        width = re.search(r'"min-legal-vector-width"="(\d+)"', a)
        if ".omp_outlined." in name and width and int(width.group(1)) >= 256:
            if "+avx" not in a:
                bad.append(f"{name} (vectors of {width.group(1)} bits, no AVX)")
    return bad


def main(paths: list[str]) -> int:
    status = 0
    for path in paths:
        with open(path) as f:
            for b in offenders(f.read()):
                print(f"{path}: {b}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
