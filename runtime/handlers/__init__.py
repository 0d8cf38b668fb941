"""The functions' entry points: `runtime.handlers.<name>.handler`, as the construct names them."""
