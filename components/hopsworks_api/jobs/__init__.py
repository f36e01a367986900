"""Jobs (a program stored in a dataset, with its arguments and environment) and their
executions, run by the configured runner (`backends.runner`)."""
