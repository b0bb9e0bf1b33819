"""realsyn: RealSyn's processing library (no Dagster)."""

import ctypes
import ctypes.util

# usearch's extension carries its own static copy of libstdc++. Loaded before the system
# libstdc++ is in the process's global scope, its copy wins, and a C++ library loaded later
# breaks: Ray's driver aborts in std::regex ("Invalid range in brace expression") at
# ray.init. Putting the system libstdc++ in the global scope first (as importing torch does)
# avoids it; every realsyn module, hence every usearch import here, runs this first.
_LIBSTDCXX = ctypes.util.find_library("stdc++")
if _LIBSTDCXX:
    ctypes.CDLL(_LIBSTDCXX, mode=ctypes.RTLD_GLOBAL)
