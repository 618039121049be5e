# tries: read the simulator's traces, from which a policy could learn the hidden decode lengths
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: head: cannot open '{data}/traces/sharegpt_1.5.csv' for reading: Permission denied
head -2 {data}/traces/sharegpt_1.5.csv
