"""``python -m crm_predict`` runs the command line."""

from crm_predict.cli import main

main()
