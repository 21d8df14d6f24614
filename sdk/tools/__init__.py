"""Developer tools that ship with the SDK but are not part of a deployment's runtime.

    int8_bench.py    the int8 benchmark: the real PP-OCR models quantized on both engines and
                     judged on held-out synthetic text (``python -m sdk.tools.int8_bench``)
    synth.py         seeded synthetic text lines and pages (Latin and Chinese) for
                     calibration sets, the bench and the tests
    demo_models.py   the real demo models (PP-OCR det/rec/cls) taken out of the rapidocr
                     wheel (``python -m sdk.tools.demo_models cls`` prints a path)

Nothing in the deploy flow imports these.
"""
