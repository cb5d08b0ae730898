"""transfers: pupils' files moving between schools (see README.md)."""
