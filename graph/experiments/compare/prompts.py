"""What the baseline methods are told about a task: the same facts Glia's researcher gets (the task's brief, the
design API, and the baselines' figures as measured on the benchmark), in each method's own form; the measurements of
their own candidates come back as the same figures in text where the method has a place for them (OpenEvolve's
``artifacts``). A method's own prompt machinery (OpenEvolve's templates, EoH's operators, FunSearch's versioned
functions) is left as its authors wrote it; only the task description comes from here. No prompt here names a
design or an idea for this task's answer. The README's *What each method sees* lists it all."""

from __future__ import annotations

from glia.nodes import prompts
from glia.simulator.metrics import KEY_METRICS, fmt


def design_api(layer: str = "router") -> str:
    """The design API of the task's layer as Glia's researcher reads it, so that every method is told the same
    facts."""
    return prompts.DESIGN_API[layer]


def figures_text(task: dict, metrics: dict) -> str:
    """A measurement's figures as Glia's researcher reads them in a tool result: the objective, the constrained
    metric, then the key metrics."""
    obj = task["objective"]
    c = obj.get("constraint") or {}
    keys = dict.fromkeys([obj["metric"], *([c["metric"]] if c.get("metric") else []), *KEY_METRICS])
    return ", ".join(f"{k} {fmt(metrics.get(k), 3)}" for k in keys if k in metrics)


def measured(task: dict, baselines: dict[str, dict]) -> str:
    """The baselines' figures on the benchmark, as every method is told them (Glia's researcher sees them in its
    workbench before its first turn)."""
    lines = [f"- {name}: " + (f"failed ({b['error'].get('kind')})" if b.get("error") else
                              figures_text(task, b.get("metrics") or {}))
             for name, b in baselines.items()]
    if not lines:
        return ""
    return (f"Measured on this benchmark (seeds {task['benchmark']['seeds']}), the task's baselines:\n"
            + "\n".join(lines))


def task_description(task: dict, baselines: dict[str, dict] | None = None) -> str:
    if task["design"].get("layer") == "program":  # the same facts Glia's researcher gets about the program
        text = f"{prompts.task_brief(task)}\n\n{prompts.program_system(task).split(chr(10) * 2, 1)[-1]}"
    else:
        text = f"{prompts.task_brief(task)}\n\n{design_api(task['design'].get('layer', 'router'))}"
    figures = measured(task, baselines or {})
    return f"{text}\n\n{figures}" if figures else text


BEST_SHOT_SYSTEM = """You are an expert in computer systems. Design the best policy you can for the task below, in
one go: there is no feedback and no second attempt."""

BEST_SHOT_ASK = """{description}

The current design, for reference:
```python
{starter}
```

Write your design: the whole Python file in one ```python block, with its imports and exactly one scheduler class."""
BEST_SHOT_PROGRAM = """Write your design: the whole program file in one ```python block."""

OPENEVOLVE_SYSTEM = """You improve a policy for a simulated computer system. {description}

A higher combined_score is better: it is the objective of the task's baseline divided by the program's (for a
minimised objective), so 1.0 matches the baseline. A program that fails scores 0 and its error is shown."""

FUNCTION_DESCRIPTION = """{description}

Here the design is a single function, `{name}`, that a fixed scheduler class calls: {doc}"""


def best_shot(task: dict, baselines: dict[str, dict] | None = None) -> list[dict]:
    starter = task["design"]["starter_source"].rstrip() or "(none)"
    return [{"role": "system", "content": BEST_SHOT_SYSTEM},
            {"role": "user", "content": _program_ask(task, BEST_SHOT_ASK.format(
                description=task_description(task, baselines), starter=starter))}]


def _program_ask(task: dict, text: str) -> str:
    """A program task's best-shot ask: the whole program file, not a scheduler class."""
    if task["design"].get("layer") != "program":
        return text
    return text.replace(BEST_SHOT_ASK.rsplit("\n", 1)[-1], BEST_SHOT_PROGRAM)
