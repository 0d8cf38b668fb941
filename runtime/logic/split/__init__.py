"""Large files on the state machine (R23): plan -> parse parts -> write partitions -> finish.

`start` (in the processor) decides that a file is split, and with its plan writes the manifests,
gives the job to the attempt and starts the execution; `plan` finds record boundaries and settles
the file-level rules over the whole file; `part` parses one byte range and routes every valid
row, undecided, to the partition of its key; `partition` decides the duplicates of its keys in
line order and writes the winners; `finish` merges what the steps left under `split/{jobId}/`
into the single pass's outcome.
"""
