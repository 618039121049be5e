# tries: more memory than the shell may use, across processes: the cap was per process (the issue: 3 processes held
#+ 4.3 GB against 4 GB); here four of 100 MB each against a budget of 256 MB for the whole tree
# door: shell
# tree_memory_mb: 256
# timeout: 30
# expect: error
# match: the command was stopped with every process it started: (a process was killed: the command's processes
#+  together reached the 256 MB they may use|its processes held \d+ MB together, more than the 256 MB the command
#+  may use)
for i in 1 2 3 4; do python3 -c 'import time; b = bytearray(100 << 20); b[::4096] = b"x" * len(b[::4096]); time.sleep(20)' & done; wait
