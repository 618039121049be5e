"""ShinkaEvolve's launcher for the job-placement problem (``python run_evo.py`` with shinka-evolve installed).
``glia init --from-shinka`` reads the system message and the job configuration from here without running it."""

from shinka.core import EvolutionConfig, EvolutionRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig

search_task_sys_msg = """You are placing batch jobs on a heterogeneous cluster: machines differ in cores, memory and
speed (a job of `work` seconds runs work / speed seconds). For each job, return the machine it runs on and its
priority there; on each machine, waiting jobs start in priority order (smallest first) as cores and memory free up,
and a job that does not fit yet lets the next one that fits go first. The score is the mean job completion time
(finish minus release) against a round-robin, first-come-first-served baseline, as a geometric mean of ratios
(higher is better). Durations are heavy-tailed; some jobs need a big machine. Ideas: shortest-work-first priorities,
speed-aware placement by estimated finish time, keeping big machines free for the jobs only they can run."""

job_config = LocalJobConfig(eval_program_path="evaluate.py", time="00:01:00")
db_config = DatabaseConfig(num_islands=2, archive_size=20)
evo_config = EvolutionConfig(task_sys_msg=search_task_sys_msg, language="python", init_program_path="initial.py",
                             num_generations=30, job_type="local")

if __name__ == "__main__":
    EvolutionRunner(evo_config=evo_config, job_config=job_config, db_config=db_config).run()
