"""Tasks: the task record, its loader, validation and scoring (``task.py``) and the built-in task files with their
starter policies (``builtin/``)."""
