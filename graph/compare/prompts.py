"""What the baseline methods are told about a task: the same facts Glia's researcher gets (the task's brief and the
design API), in each method's own form. A method's own prompt machinery (OpenEvolve's templates, EoH's operators,
FunSearch's versioned functions) is left as its authors wrote it; only the task description comes from here."""

from __future__ import annotations

from glia.nodes import prompts


def design_api(layer: str = "router") -> str:
    """The design API of the task's layer as Glia's researcher reads it, so that every method is told the same
    facts."""
    return prompts.DESIGN_API[layer]


def task_description(task: dict) -> str:
    return f"{prompts.task_brief(task)}\n\n{design_api(task['design'].get('layer', 'router'))}"


BEST_SHOT_SYSTEM = """You are an expert in computer systems. Design the best policy you can for the task below, in
one go: there is no feedback and no second attempt."""

BEST_SHOT_ASK = """{description}

The current design, for reference:
```python
{starter}
```

Write your design: the whole Python file in one ```python block, with its imports and exactly one scheduler class."""

OPENEVOLVE_SYSTEM = """You improve a policy for a simulated computer system. {description}

A higher combined_score is better: it is the objective of the task's baseline divided by the program's (for a
minimised objective), so 1.0 matches the baseline. A program that fails scores 0 and its error is shown."""

FUNCTION_DESCRIPTION = """{description}

Here the design is a single function, `{name}`, that a fixed scheduler class calls: {doc}"""


def best_shot(task: dict) -> list[dict]:
    starter = task["design"]["starter_source"].rstrip() or "(none)"
    return [{"role": "system", "content": BEST_SHOT_SYSTEM},
            {"role": "user", "content": BEST_SHOT_ASK.format(description=task_description(task), starter=starter)}]
