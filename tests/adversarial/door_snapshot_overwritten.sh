# tries: the delivered-is-not-measured door: once the experiment c1-e001 is measured and agreed hardened,
#+ overwrite its snapshot (as the shell could) with other code, then try the snapshot store beside the workspace
# door: snapshot
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: bash: line 1: ../.{ws_name}-experiments/c1-e001.py: Permission denied
printf 'SWAPPED = True\n' > experiments/c1-e001.py && printf 'SWAPPED = True\n' > ../.{ws_name}-experiments/c1-e001.py
