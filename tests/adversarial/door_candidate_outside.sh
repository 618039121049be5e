# tries: run_simulation(candidate=...) with a link the shell made to a file outside the workspace (then with an
#+ absolute path, then with ..): the harness copied whatever it named into the workspace
# door: candidate
# refuses: link.py => candidate 'link.py' refused: 'link.py' is (or goes through) a symbolic link or not a
#+  directory: the harness follows no link in the workspace
# refuses: {outside}/secret.py => candidate '{outside}/secret.py' refused: '{outside}/secret.py' is outside the
#+  workspace (give a path relative to the workspace, without '..')
# refuses: ../secret.py => candidate '../secret.py' refused: '../secret.py' is outside the workspace (give a path
#+  relative to the workspace, without '..')
# expect: output
# message: exit code 0
ln -s {outside}/secret.py link.py
