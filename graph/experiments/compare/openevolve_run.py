"""One OpenEvolve run, in a process of its own (``python -m glia.graph.experiments.compare.openevolve_run SPEC.json``).

OpenEvolve installs signal handlers, adds handlers to the root logger and puts its evaluator's directory on
``sys.path``; here that touches nothing else. Its model is a client of the comparison's bridge (``init_client``),
and its evaluator file calls the bridge too, so the comparison's evaluator and budget ledger do the work and the
counting. Retries of failed evaluations are off (a failure is charged once); its cascade evaluation is off (one
evaluation is one simulation); its own timeout is only a backstop behind the evaluator's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from openevolve.config import Config, LLMConfig, LLMModelConfig
from openevolve.controller import OpenEvolve
from openevolve.evaluation_result import EvaluationResult
from openevolve.llm.base import LLMInterface

from glia.graph.experiments.compare.bridge import BridgeClient, BridgeError

EVALUATOR_FILE = "from glia.graph.experiments.compare.openevolve_run import evaluate  # noqa: F401\n"


class BridgedLLM(LLMInterface):
    """OpenEvolve's model interface over the bridge (the comparison's client makes the call)."""

    def __init__(self, cfg: LLMModelConfig):
        self.model = cfg.name
        self.system_message = cfg.system_message
        self.last_usage = None

    async def generate(self, prompt: str, **kwargs) -> str:
        return await self.generate_with_context(self.system_message or "", [{"role": "user", "content": prompt}])

    async def generate_with_context(self, system_message: str, messages: list[dict], **kwargs) -> str:
        sent = [{"role": "system", "content": system_message}, *messages] if system_message else list(messages)
        return await asyncio.to_thread(BridgeClient.from_env().llm, sent)


def bridged_client(cfg: LLMModelConfig) -> BridgedLLM:
    return BridgedLLM(cfg)


def evaluate(program_path: str) -> EvaluationResult:
    """OpenEvolve's evaluator entry point: the program through the comparison's evaluator."""
    code = Path(program_path).read_text()
    try:
        answer = BridgeClient.from_env().evaluate(code, "openevolve")
    except BridgeError as exc:
        return EvaluationResult(metrics={"combined_score": 0.0}, artifacts={"error": str(exc)})
    if answer.get("fitness") is None:
        err = answer.get("error") or {"kind": "infeasible", "message": "the design breaks the task's constraint"}
        return EvaluationResult(metrics={"combined_score": 0.0},
                                artifacts={"error": f"{err.get('kind')}: {err.get('message')}"[:2000]})
    # the candidate's figures as text, as Glia's researcher reads its experiments (OpenEvolve shows artifacts in
    # the next prompt)
    return EvaluationResult(metrics={"combined_score": float(answer["fitness"]), "objective": float(answer["value"])},
                            artifacts={"measured": answer.get("measured") or ""})


def config(spec: dict) -> Config:
    cfg = Config()
    cfg.max_iterations = spec["iterations"]
    cfg.random_seed = spec["seed"]
    cfg.checkpoint_interval = max(1, spec["budget"] // 2)
    cfg.log_level = "INFO"
    cfg.llm = LLMConfig(models=[LLMModelConfig(name=spec["model"], init_client=bridged_client)],
                        temperature=spec["temperature"], max_tokens=spec["max_tokens"], retries=0,
                        timeout=int(spec["timeout_s"]), system_message=spec["system"])
    cfg.prompt.system_message = spec["system"]
    cfg.llm.update_model_params({"system_message": spec["system"]}, overwrite=True)
    cfg.evaluator.max_retries = 0
    cfg.evaluator.cascade_evaluation = False
    cfg.evaluator.parallel_evaluations = 1
    if hasattr(cfg.prompt, "include_artifacts"):
        cfg.prompt.include_artifacts = True  # the measured figures reach the next prompt
    cfg.evaluator.timeout = int(spec["timeout_s"])
    return cfg


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["dir"])
    initial = out / "initial_program.py"
    starter = spec["starter"]  # a program task's starter has its own EVOLVE-BLOCK regions: kept as they are
    initial.write_text(starter if "EVOLVE-BLOCK-START" in starter else
                       f"# EVOLVE-BLOCK-START\n{starter.rstrip()}\n# EVOLVE-BLOCK-END\n")
    evaluator = out / "openevolve_evaluator.py"
    evaluator.write_text(EVALUATOR_FILE)
    controller = OpenEvolve(str(initial), str(evaluator), config(spec), output_dir=str(out / "openevolve"))
    asyncio.run(controller.run(iterations=spec["iterations"]))


if __name__ == "__main__":
    main(sys.argv[1])
