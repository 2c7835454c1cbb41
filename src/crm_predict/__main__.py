"""``python -m crm_predict`` runs the command line."""

from crm_predict.cli.app import main

main()
