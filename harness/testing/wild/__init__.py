"""Hard cases from the wild: small ONNX models with random weights, built in the tests,
that imitate the conventions of real pretrained exports the harness must audit.

One module per topic; each builder is ``build_<case>(dest: Path) -> Path``: it writes one
``.onnx`` file into ``dest`` and returns its path, and its docstring names the real-world
convention it imitates. Nothing here is downloaded.
"""
