"""The systems that stores and locks keep their data in, and how to reach them: a Vault (HTTP
client, KV v2), AWS (boto3 clients), HTTP retries, and private files on the local disk. Both
`stores/` and `locks/` sit above this package, so neither needs the other."""
