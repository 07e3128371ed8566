"""ppm-tokens: a declarative GitOps reconciler for Posit Package Manager API tokens.

Layers, top first. A module imports from its own layer and the layers below it, never from one
above (tests/test_layers.py reads this table and checks every import, those inside functions and
under TYPE_CHECKING too). Packages joined by "|" share a layer and import nothing of each other.
Only the command line imports click or prints.

    command line: cli, __main__, commands
        cli.py: the group, the global options and the option helpers commands share;
        commands/: each command's options beside its code, wiring the layers below together,
        and the terminal (commands/terminal.py)
    operations: apply | ops | emulator
        apply executes a Plan against a driver, stores and a held lock; ops are the day-2
        reads (list, show, audit, import, report); emulator is a PPM-compatible server
    plan: plan
        the pure planner, the plan model, its renderers and saved plans; it reads the live
        tokens (server.model) and the stored metadata (stores.base) of the layer below
    services: server | stores | locks
        drivers for the PPM server and its live model; secret stores; apply locks: each kind
        behind a Protocol with a registry by `type`
    backends: backends
        the systems stores and locks keep their data in: Vault, AWS, private local files
    desired: desired
        tokens.yaml -> validated, typed Spec, with each store type's offline rules
    base: errors, problems, sanitize, durations, ownership, urls, secret, jwtinfo, logs,
          deadline, inputs, bounded_run, bounded_http, ui
        small pieces every layer may use (this package's own __init__ is one of them)
"""

__version__ = "0.1.0"
