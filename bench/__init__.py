"""LeadCRM's benchmark suite (bench/run.py, `python3 dev.py bench`); see bench/README.md."""
