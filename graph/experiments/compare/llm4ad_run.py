"""One EoH or FunSearch run with llm4ad, in a process of its own (``python -m glia.graph.experiments.compare.llm4ad_run
SPEC.json``).

Both evolve one function (the task's function form: the preface and function EoH and FunSearch see; the scheduler
class that calls it is appended before each evaluation; a program task's function is put back in its place in the
starter by the comparison). llm4ad neither forks nor execs here
(``safe_evaluate=False, exec_code=False``): each program goes to the comparison's evaluator over the bridge, which
runs it confined, fail-fast, with the task's timeout, and charges it once. EoH counts its samples only with a
profiler, so one is always given. The budget is enforced by the comparison's ledger, which stops this process once
the budget is spent; the libraries count every sample, a repeated program too (charged once by the ledger), so
their own caps are set above it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llm4ad.base import LLM, Evaluation

from glia.graph.experiments.compare.bridge import BridgeClient, BridgeError


class BridgedLLM(LLM):
    """llm4ad's model interface over the bridge."""

    def draw_sample(self, prompt, *args, **kwargs) -> str:
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        try:
            return BridgeClient.from_env().llm(messages)
        except BridgeError as exc:  # a failed call is an empty sample, as llm4ad's own clients treat errors
            print(f"model call failed: {exc}", file=sys.stderr)
            return ""


class BridgedEvaluation(Evaluation):
    """Programs scored by the comparison's evaluator: the fitness (higher is better), None when one fails."""

    def __init__(self, spec: dict):
        super().__init__(template_program=spec["template"], task_description=spec["description"],
                         timeout_seconds=spec["timeout_s"], exec_code=False, safe_evaluate=False)
        self.adapter = spec["adapter"]
        self.method = spec["method"]

    def evaluate_program(self, program_str: str, callable_func, **kwargs) -> float | None:
        try:
            answer = BridgeClient.from_env().evaluate(f"{program_str.rstrip()}\n\n{self.adapter}", self.method)
        except BridgeError as exc:
            print(f"evaluation failed: {exc}", file=sys.stderr)
            return None
        return answer.get("fitness")


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["dir"])
    llm, evaluation = BridgedLLM(), BridgedEvaluation(spec)
    if spec["method"] == "eoh":
        from llm4ad.method.eoh import EoH, EoHProfiler

        profiler = EoHProfiler(log_dir=str(out / "eoh"), log_style="simple")
        EoH(llm, evaluation, profiler, max_generations=None, max_sample_nums=spec["samples"], num_samplers=1,
            num_evaluators=1).run()
    else:
        from llm4ad.method.funsearch import FunSearch
        from llm4ad.tools.profiler import ProfilerBase

        profiler = ProfilerBase(log_dir=str(out / "funsearch"), log_style="simple")
        FunSearch(llm, evaluation, profiler, num_samplers=1, num_evaluators=1,
                  max_sample_nums=spec["samples"]).run()


if __name__ == "__main__":
    main(sys.argv[1])
