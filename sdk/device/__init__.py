"""Code that runs ON the board, shipped in the bundle under ``runtime/sdk/device/``.

    runner.py      verify a bundle, check each model's golden outputs, time it
    preprocess.py  the image preprocessing spec and its numpy reference; the NEON kernel
    metrics.py     agreement metrics (cosine, max-abs, top-1)
    bench.py       the on-board bench: one configuration per process, every sample kept
    sysinfo.py     topology, clocks, thermal zones, settling, affinity (sysfs and procfs)
    stats.py       summaries with a bootstrap interval of the median, comparisons

Standard library, numpy, the engines, the SDK's other board modules and ``sdk._kernels``
only (``tests/test_device_imports.py``).
"""
