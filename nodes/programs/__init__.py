"""What the workflow does differently when the design is a program judged by the user's evaluator (a program task):
the analyst's diagnostics from the evaluator's metrics and artifacts, the harness steps (the starter measured several
times for its noise, a new best re-measured in a fresh copy, held-out variants), and the report."""
