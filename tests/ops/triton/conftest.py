"""Run the Triton kernels on CPU: TRITON_INTERPRET must be set before the kernel module is imported.

``seqconv.ops.triton`` imports its kernels lazily and re-imports them whenever this variable changed, so setting it
here (at conftest import, before any test in this folder runs) is enough even if other tests imported seqconv first.
"""

import os

os.environ["TRITON_INTERPRET"] = "1"
