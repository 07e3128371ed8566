"""The apply lock: its protocol (base), its kinds by `type` (registry: local, file, vault,
dynamodb), the record every kind keeps (record, remote_records), and holding one for a run
(held). Below apply, beside stores: a vault or file lock lives where a store does, and reaches it
through reconciler.backends, never through the store."""
