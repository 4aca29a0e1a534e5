"""`dcnas-deploy demo`: the whole pipeline on the embedded default, built on `dcnas_deploy.api` (run.py), and its
report (report.py)."""
