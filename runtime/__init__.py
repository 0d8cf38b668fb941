"""Lambda code of the financial pipeline.

- `runtime.handlers`: one module per function (upload, status, results, processor, sweeper),
  each a thin, decorated `handler` that parses its event and calls the logic;
- `runtime.logic`: what the pipeline decides (CSV rules, duplicates, request validation, the
  processor and the sweeper), with no client of its own;
- `runtime.dal`: the jobs table, the results table, the bucket's layout and its objects;
- top level: the contract shared with the construct, settings, clients, errors, observability
  and the API Gateway wiring every HTTP handler uses.
"""
