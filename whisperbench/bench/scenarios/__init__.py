"""Deployment scenarios as MLPerf Inference defines them, driven by MLPerf's own load
generator (`mlcommons-loadgen`): Offline (the whole dataset at once, a batch-size sweep)
and Server (Poisson arrivals into N instances or one dynamically batching instance, with a
search for the highest rate meeting a latency target). SingleStream is the suite runner's
per-utterance measurement, unchanged.

Modules: `spec` (the `[[scenarios]]` section and its validation), `loadgen_sut` (the
LoadGen SUT/QSL around model instances), `offline` / `server` (their LoadGen settings, the
knee and the rate search), `energy` (RAPL / NVML counters), `measure` (one run's row
fields), `records` (the "scenario" record kind), `cell_process` (one cell's scenarios in a
child process), `run` (a suite's scenarios, one child per cell, written to the results
store), `summary` (report table and plot, compare gates, recommend).
"""
