"""AgentArk core library: pure, import-light building blocks of the pipeline.

Nothing here imports prefect, pandera, fsspec, vllm or deepspeed at import time
(``tests/unit/test_imports.py`` guards it), so GPU benchmarks and notebooks need
only torch + transformers.
"""

__version__ = "0.1.0"
