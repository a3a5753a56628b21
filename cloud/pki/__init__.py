"""Certificates: the cloud CA, CSR checks, the record of what was issued."""
