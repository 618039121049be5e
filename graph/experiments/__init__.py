"""The paper's evaluation and the stack experiments, standing on the workflow: Glia against baseline methods
(``compare/``), the stack's layers composed (``stack.py``), a design swept over load (``sweep.py``), the designs they
name (``designs.py``) and their figures (``plots.py``)."""
