"""Build the Cython kernels in ``src/nfd/_cext``.

Every ``*.pyx`` file there becomes the extension ``nfd._cext.<stem>``; all
other metadata lives in ``pyproject.toml``.
"""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

CEXT = Path("src/nfd/_cext")

extensions = [
    Extension(
        f"nfd._cext.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted(CEXT.glob("*.pyx"))
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
