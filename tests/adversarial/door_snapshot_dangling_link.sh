# tries: the issue's .pth door: before experiment c1-e001 runs, make its snapshot name a dangling link to a .pth
#+ file outside the workspace, so that the harness's copy step creates that file (and Python runs it next start)
# door: snapshot-link
# expect: output
# message: exit code 0
mkdir -p experiments && ln -s {outside}/glia-evil.pth experiments/c1-e001.py
