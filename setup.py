"""Build the Cython kernels in ``src/nfd/_cext``.

Every ``*.pyx`` file there becomes the extension ``nfd._cext.<stem>``; all
other metadata lives in ``pyproject.toml``.
"""

import platform
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

CEXT = Path("src/nfd/_cext")
#: Kernels written with x86-64 intrinsics (AVX2/FMA, chosen at run time when the
#: CPU has them); elsewhere nfd uses the portable kernels.
X86_ONLY = {"avx2"}
X86 = platform.machine().lower() in ("x86_64", "amd64")

extensions = [
    Extension(
        f"nfd._cext.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted(CEXT.glob("*.pyx"))
    if X86 or pyx.stem not in X86_ONLY
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
