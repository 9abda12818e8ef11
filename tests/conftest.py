"""Session-wide test settings, applied before any test module imports torch, triton or seqconv.

* Without a CUDA device the Triton kernels run under the interpreter: ``TRITON_INTERPRET`` must be set before
  triton is first imported anywhere (transformers and torch may import it while other test folders are collected),
  so it is set here, at the root, rather than only beside the Triton tests.
* Under pytest-xdist each worker uses one intra-op thread: the workers already fill the cores, and oversubscribed
  OpenMP threads spin and slow every small op down.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
