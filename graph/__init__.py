"""The application: the LangGraph workflow (``builder.py``, its configuration, runs and sessions), the command line
(``cli.py``), the paper's evaluation and the stack experiments (``experiments/``) and a design served in front of
real servers (``serving/``), the last two apart from each other and standing on the workflow's layer below."""
