"""OS isolation at the bottom of everything: ``confine.py`` confines a process (namespaces, Landlock, seccomp,
rlimits). Standard library only and started as a script (``python -I -S confine.py``), so it imports nothing of Glia;
the simulator's harness, the shell tool and the commands that check the machine use it."""
