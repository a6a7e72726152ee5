"""The site PKI: keys, certificates and CRLs (crypto), the index, and the operations on pki/ (store)."""
